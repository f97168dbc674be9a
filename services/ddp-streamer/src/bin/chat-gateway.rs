//! `chat-gateway`: DDP over WebSocket for browsers, publishing and subscribing only through the
//! rmq broker. Configuration comes from the environment (see `config::GatewayConfig`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    chat_ddp_streamer::init_tracing();
    let cfg = chat_ddp_streamer::config::GatewayConfig::from_env()?;
    chat_ddp_streamer::gateway::run(cfg, Vec::new()).await
}
