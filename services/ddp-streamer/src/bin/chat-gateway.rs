//! `chat-gateway`: DDP over WebSocket for browsers, publishing and subscribing only through the
//! rmq broker. Configuration comes from the environment (see `config::GatewayConfig`).
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    chat_ddp_streamer::init_tracing("chat-gateway");
    let cfg = chat_ddp_streamer::config::GatewayConfig::from_env()?;
    let mut extensions: Vec<
        std::sync::Arc<dyn chat_ddp_streamer::gateway::extension::GatewayExtension>,
    > = Vec::new();
    if let Some(p) = chat_ddp_streamer::gateway::presence::PresenceSettings::from_env()? {
        extensions
            .push(chat_ddp_streamer::gateway::presence::GatewayPresence::start(&cfg, p).await?);
    }
    chat_ddp_streamer::gateway::run(cfg, extensions).await
}
