//! The chat gateway: DDP over WebSocket at `/websocket` (design §4.2, §4.7).
//!
//! * [`http`] — routes (`/websocket`, `/health`, `/ready`, `/metrics`, demo page, dev tokens)
//!   and the connection cap.
//! * [`conn`] — one socket: handshake, heartbeat, frame dispatch, bounded outbound queue.
//! * [`methods`] / [`subs`] — the DDP methods and stream subscriptions.
//! * [`fanout`] — the `chat_inbox` broadcast consumer pushing events to sockets.
//! * [`history`] — `loadHistory` / `loadMissedMessages` read straight from the broker.
//! * [`extension`] — hooks for later services (presence) to add methods, subscriptions and
//!   session events without touching the chat paths.
//!
//! With `ENABLE_TLS` it serves HTTPS through `mq_common::http::TlsListener`.

pub mod conn;
pub mod extension;
pub mod fanout;
pub mod history;
pub mod http;
pub mod methods;
pub mod presence;
pub mod presence_lanes;
pub mod presence_state;
pub mod state;
pub mod subs;

pub use state::Gateway;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chat_proto::ddp::close;
use chat_proto::topics::{CG_GATEWAY, CHAT_INBOX, CHAT_OUTGOING, PG_GATEWAY};
use mq_client::{Admin, ConsumeFromWhere, MessageExt, MessageModel};
use mq_common::shutdown::Signals;

use crate::clients::{ServiceClients, CHAT_PULL};
use crate::config::GatewayConfig;
use crate::offsets_dir::OffsetsDir;
use extension::GatewayExtension;

/// Run a gateway until SIGTERM/SIGINT: set up topics, producer and inbox consumer, then serve
/// HTTP/WebSocket (TLS when configured). Prints `listening on <addr>` once accepting.
pub async fn run(
    cfg: GatewayConfig,
    extensions: Vec<Arc<dyn GatewayExtension>>,
) -> anyhow::Result<()> {
    let signals = Signals::install().context("installing the signal handlers")?;
    let c = &cfg.common;
    let admin = Admin::connect(&c.namesrv).await.context("connect to the nameserver")?;
    crate::broker::ensure_topics(
        &admin,
        &[CHAT_OUTGOING, CHAT_INBOX],
        c.chat_queues,
        c.create_topics,
        Duration::from_secs(60),
    )
    .await?;
    let clients = ServiceClients::from_common(c);
    let unique = clients.instance.clone();
    let producer = clients.producer(PG_GATEWAY, c.send_retries, "producer").await?;
    let n = producer.publish_queues(CHAT_OUTGOING).await.context("route of chat_outgoing")?.len();
    anyhow::ensure!(
        n as i32 == c.chat_queues,
        "chat_outgoing has {n} queues, CHAT_QUEUES={}",
        c.chat_queues
    );

    let gw = Gateway::new(cfg.clone(), producer, admin, extensions);

    // Broadcast offsets live in a per-process directory under OFFSETS_DIR, removed when
    // `offsets` drops (any return from here on): a restarted gateway starts at the end of the
    // inbox and clients gap-fill (design §4.7).
    let offsets = OffsetsDir::new(&c.offsets_dir, "chat-gateway-offsets", &unique);
    let g = gw.clone();
    let consumer = clients
        .orderly_consumer(CG_GATEWAY, CHAT_INBOX, MessageModel::Broadcasting, CHAT_PULL)
        .consume_from(ConsumeFromWhere::Last)
        .offset_store_dir(Some(offsets.path().to_path_buf()))
        .shutdown_timeout(Duration::from_secs(2))
        .start(move |m: MessageExt| {
            let g = g.clone();
            async move {
                fanout::on_inbox(&g, &m);
                Ok(())
            }
        })
        .await
        .context("start inbox consumer")?;
    gw.ready.store(true, Ordering::SeqCst);

    let listener = tokio::net::TcpListener::bind((cfg.bind.as_str(), cfg.port))
        .await
        .with_context(|| format!("bind {}:{}", cfg.bind, cfg.port))?;
    let local = listener.local_addr()?;
    let app = http::router(gw.clone());
    let shutdown = shutdown_signal(gw.clone(), signals);
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    println!("listening on {local} ({scheme}, websocket at /websocket)");
    tracing::info!(%local, instance = %c.instance_id, "chat-gateway listening");
    if let Some((cert, key)) = &cfg.tls {
        // The certificate is re-read when its files change (checked every 5 s).
        let every = std::time::Duration::from_secs(5);
        let tls = mq_common::http::TlsListener::bind(listener, cert, key, every)
            .map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
        mq_common::http::serve(tls, app, c.http, shutdown).await;
    } else {
        mq_common::http::serve(listener, app, c.http, shutdown).await;
    }
    for ext in &gw.extensions {
        ext.shutdown().await;
    }
    consumer.shutdown().await;
    gw.producer.shutdown().await;
    // Only now: the consumer persists its offsets one last time while shutting down.
    drop(offsets);
    Ok(())
}

/// Resolves on SIGTERM/SIGINT after closing every socket with 1001.
async fn shutdown_signal(gw: Arc<Gateway>, mut signals: Signals) {
    let signal = signals.recv().await;
    tracing::info!(signal, "shutting down: closing sockets");
    for c in gw.conns.iter() {
        c.close(close::GOING_AWAY, "server shutdown");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !gw.conns.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
