//! The inbox observer (design §4.5): the single writer per conversation.
//!
//! * [`policy`] — the DM block table and the dedupe window, shared by the processing path and
//!   the follower.
//! * [`follower`] — reads `chat_inbox` back (from the start at boot, then continuously) so the
//!   block table and the dedupe window survive restarts and queue takeovers, with no store other
//!   than the broker.
//! * [`process`] — one `chat_outgoing` message → verify, authorize, dedupe, apply policy, publish.

pub mod follower;
pub mod policy;
pub mod process;
pub mod retry;
pub mod snapshot;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chat_proto::topics::{
    CG_OBSERVER, CG_OBSERVER_FOLLOW, CHAT_INBOX, CHAT_OUTGOING, CHAT_POLICY_STATE, PG_OBSERVER,
};
use mq_client::{Admin, ConsumeFromWhere, MessageExt, MessageModel, Producer};
use parking_lot::Mutex;

use crate::broker::TopicReader;
use crate::clients::{ServiceClients, CHAT_PULL};
use crate::config::ObserverConfig;
use crate::metrics::Metrics;

/// Shared observer state.
pub struct Observer {
    /// Settings.
    pub cfg: ObserverConfig,
    /// Producer for `chat_inbox`.
    pub producer: Producer,
    /// Reader of `chat_inbox` (recovery lookups, follower).
    pub inbox: TopicReader,
    /// Blocks + dedupe window.
    pub policy: Mutex<policy::Policy>,
    /// Counters.
    pub metrics: Metrics,
    /// Set after the boot catch-up, when the outgoing consumer runs.
    pub ready: AtomicBool,
    /// Reader of `chat_outgoing` (max offsets at queue (re)assignment).
    pub outgoing: TopicReader,
    /// queue id → (last offset processed, offset below which messages get the recovery lookup).
    pub recovery: Mutex<std::collections::HashMap<i32, (i64, i64)>>,
    /// Reader of `chat_policy_state`.
    pub policy_state: TopicReader,
    /// `chat_inbox` queue id → offset the follower has read up to (written into snapshots).
    pub follow_positions: Mutex<std::collections::BTreeMap<i32, i64>>,
}

/// Run an observer until SIGTERM/SIGINT.
pub async fn run(cfg: ObserverConfig) -> anyhow::Result<()> {
    let c = cfg.common.clone();
    let admin = Admin::connect(&c.namesrv).await.context("connect to the nameserver")?;
    crate::broker::ensure_topics(
        &admin,
        &[CHAT_OUTGOING, CHAT_INBOX],
        c.chat_queues,
        c.create_topics,
        Duration::from_secs(60),
    )
    .await?;
    crate::broker::ensure_topics(
        &admin,
        &[CHAT_POLICY_STATE],
        1,
        c.create_topics,
        Duration::from_secs(60),
    )
    .await?;
    let clients = ServiceClients::from_common(&c);
    let producer = clients.producer(PG_OBSERVER, c.send_retries, "producer").await?;
    let obs = Arc::new(Observer {
        policy: Mutex::new(policy::Policy::new(cfg.dedupe_cache)),
        inbox: TopicReader::new(admin.clone(), CHAT_INBOX, CG_OBSERVER_FOLLOW),
        cfg: cfg.clone(),
        producer,
        metrics: Metrics::default(),
        ready: AtomicBool::new(false),
        outgoing: TopicReader::new(admin.clone(), CHAT_OUTGOING, CG_OBSERVER_FOLLOW),
        recovery: Mutex::new(std::collections::HashMap::new()),
        policy_state: TopicReader::new(admin.clone(), CHAT_POLICY_STATE, CG_OBSERVER_FOLLOW),
        follow_positions: Mutex::new(std::collections::BTreeMap::new()),
    });

    // Health first, so orchestration can see "alive but not ready" during the catch-up.
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", cfg.health_port))
        .await
        .with_context(|| format!("bind health port {}", cfg.health_port))?;
    println!("health on {}", listener.local_addr()?);
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(|State(o): State<Arc<Observer>>| async move { o.metrics.render() }))
        .with_state(obs.clone());
    let limits = cfg.common.http;
    tokio::spawn(mq_common::http::serve(listener, app, limits, std::future::pending()));

    // Rebuild blocks (last snapshot, then the inbox after it) and the dedupe window (the inbox
    // tail) before taking any queue.
    let restored = snapshot::read_last(&obs).await.context("read chat_policy_state")?;
    let start = match &restored {
        Some(s) => {
            obs.policy.lock().restore(&s.blocks);
            obs.metrics.set("chat_policy_restored_blocks", s.blocks.len() as i64);
            tracing::info!(blocks = s.blocks.len(), owner = %s.owner, "restored the block table from chat_policy_state");
            s.inbox_offsets.clone()
        }
        None => Default::default(),
    };
    let mut follower = follower::Follower::new(obs.clone(), start, cfg.rebuild_window);
    follower.catch_up().await.context("rebuild state from chat_inbox")?;
    let (blocks, seen) = {
        let p = obs.policy.lock();
        (p.block_count(), p.seen_len())
    };
    tracing::info!(blocks, seen, "state rebuilt from chat_inbox");
    let follow_task = tokio::spawn(follower.run());
    let refresh_task = tokio::spawn(snapshot::refresh_loop(obs.clone(), cfg.snapshot_interval));

    let o = obs.clone();
    let consumer = clients
        .orderly_consumer(CG_OBSERVER, CHAT_OUTGOING, MessageModel::Clustering, CHAT_PULL)
        .consume_from(ConsumeFromWhere::First)
        .lock_interval(cfg.lock_interval)
        .persist_interval(Duration::from_secs(1))
        .orderly_suspend(Duration::from_millis(500))
        .rebalance_interval(cfg.rebalance_interval)
        .max_reconsume_times(cfg.max_reconsume)
        .shutdown_timeout(Duration::from_secs(3))
        .start(move |m: MessageExt| {
            let o = o.clone();
            async move { retry::handle_with_backoff(&o, &m).await.map_err(|e| e.into()) }
        })
        .await
        .context("start chat_outgoing consumer")?;
    obs.ready.store(true, Ordering::SeqCst);
    tracing::info!(instance = %c.instance_id, "chat-observer running");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
    consumer.shutdown().await;
    follow_task.abort();
    refresh_task.abort();
    obs.producer.shutdown().await;
    Ok(())
}

async fn ready(State(o): State<Arc<Observer>>) -> impl IntoResponse {
    if o.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "rebuilding state")
    }
}
