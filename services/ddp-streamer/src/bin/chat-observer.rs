//! `chat-observer`: the inbox pattern's single writer per conversation: consumes
//! `chat_outgoing` in order, re-verifies, enforces blocks, dedupes and publishes to
//! `chat_inbox`. Configuration comes from the environment (see `config::ObserverConfig`).
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    chat_ddp_streamer::init_tracing("chat-observer");
    let cfg = chat_ddp_streamer::config::ObserverConfig::from_env()?;
    chat_ddp_streamer::observer::run(cfg).await
}
