//! `presence-service`: user presence on the rmq broker (design §5). Configuration comes from
//! the environment (see `presence_service::config::PresenceConfig`).
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    chat_ddp_streamer::init_tracing("presence-service");
    let cfg = presence_service::config::PresenceConfig::from_env()?;
    presence_service::service::run(cfg).await
}
