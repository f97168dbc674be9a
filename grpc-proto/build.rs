//! Compiles `proto/apache/rocketmq/v2/*.proto` with protox (pure Rust: no system `protoc`)
//! and generates prost messages plus the tonic server and client of `MessagingService`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files =
        ["proto/apache/rocketmq/v2/definition.proto", "proto/apache/rocketmq/v2/service.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_build::configure()
        .build_server(true)
        .build_client(true)
        // RPCs the broker does not serve answer UNIMPLEMENTED without a hand-written stub.
        .generate_default_stubs(true)
        // Message bodies are `bytes::Bytes`: the broker hands out slices of the commit log.
        .bytes(["."])
        .compile_fds(fds)?;
    Ok(())
}
