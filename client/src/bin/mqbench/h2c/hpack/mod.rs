//! HPACK (RFC 7541): the client's own encoder of its request headers (the server's header
//! blocks are decoded with `loona-hpack`).

mod encode;

pub use encode::Encoder;
