//! Broker wiring of the presence service: the orderly `presence_heartbeat` consumer feeding
//! the engine, the periodic tick (leases, reaper, snapshots), the broker probe behind the
//! outage grace, and the `presence_events` read-model used to answer for queues owned by
//! other instances.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chat_ddp_streamer::broker::{ensure_topics, TopicReader};
use chat_ddp_streamer::clients::{ServiceClients, PRESENCE_PULL};
use chat_ddp_streamer::gateway::presence_state::read_last_state;
use chat_ddp_streamer::offsets_dir::OffsetsDir;
use chat_proto::presence_bodies::{
    Heartbeat, StatusEvent, CG_PRESENCE, CG_PRESENCE_READMODEL, CG_PRESENCE_STATE_READER,
    PG_PRESENCE, PRESENCE_EVENTS, PRESENCE_HEARTBEAT, PRESENCE_STATE,
};
use chat_proto::presence_cache::StatusCache;
use mq_client::{Admin, ConsumeFromWhere, MessageExt, MessageModel, PushConsumer};
use mq_common::shutdown::Signals;
use parking_lot::Mutex;

use crate::config::PresenceConfig;
use crate::engine::{Engine, EngineCfg};
use crate::publisher::Publisher;

/// Shared state of a running presence service.
pub struct Presence {
    /// Settings.
    pub cfg: PresenceConfig,
    /// The state machine.
    pub engine: Mutex<Engine>,
    /// Ordered publisher.
    pub publisher: Publisher,
    /// Status of every user as published by any instance (warm from snapshots).
    pub readmodel: Mutex<StatusCache>,
    /// Reader of `presence_state`.
    pub state_reader: TopicReader,
    /// Queues the heartbeat consumer currently holds.
    pub assigned: Mutex<Vec<i32>>,
    /// Set once consumers run.
    pub started: AtomicBool,
    origin: Instant,
}

impl Presence {
    /// Monotonic milliseconds since start (the engine's clock).
    pub fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Why the service is not ready, or `None` when it is.
    pub fn not_ready(&self) -> Option<String> {
        if !self.started.load(Ordering::SeqCst) {
            return Some("starting".into());
        }
        let now = self.now();
        let e = self.engine.lock();
        if e.is_blind() {
            return Some("blind: broker unreachable".into());
        }
        let assigned = self.assigned.lock().clone();
        if assigned.is_empty() {
            return Some("no presence_heartbeat queue assigned".into());
        }
        if let Some(q) = assigned.iter().find(|q| !e.owns(**q)) {
            return Some(format!("queue {q} not restored yet"));
        }
        let s = e.stats(now);
        if !s.warming_up.is_empty() {
            return Some(format!("warming up queues {:?}", s.warming_up));
        }
        None
    }

    /// Apply one heartbeat message: restore its queue first if needed, publish what changed,
    /// and wait for snapshots that must be durable before the message is acknowledged.
    async fn on_heartbeat(
        self: &Arc<Self>,
        m: MessageExt,
    ) -> Result<(), mq_client::consumer::ConsumeError> {
        let hb: Heartbeat = match serde_json::from_slice(&m.body) {
            Ok(h) => h,
            Err(e) => {
                // Retrying a malformed body can never succeed: log and acknowledge it.
                tracing::warn!(offset = m.queue_offset, queue = m.queue_id, error = %e, "malformed presence heartbeat dropped");
                return Ok(());
            }
        };
        let q = m.queue_id;
        if !self.engine.lock().owns(q) {
            // Failing here makes the orderly consumer retry the same message later.
            let state = read_last_state(&self.state_reader, q).await?;
            let mut e = self.engine.lock();
            if !e.owns(q) {
                tracing::info!(
                    queue = q,
                    users = state.as_ref().map(|s| s.users.len()).unwrap_or(0),
                    "restoring presence queue; warming up"
                );
                e.restore(q, state.as_ref(), self.now());
            }
        }
        let age = (mq_common::protocol::now_millis() - m.store_timestamp).max(0) as u64;
        let acks = {
            let mut e = self.engine.lock();
            let outs = e.apply(q, &hb, self.now(), age);
            self.publisher.enqueue_acked(outs)
        };
        for a in acks {
            if !matches!(a.await, Ok(true)) {
                return Err("presence_state snapshot not stored".into());
            }
        }
        Ok(())
    }
}

/// Run the presence service until SIGTERM/SIGINT.
pub async fn run(cfg: PresenceConfig) -> anyhow::Result<()> {
    let signals = Signals::install().context("installing the signal handlers")?;
    let admin = Admin::connect(&cfg.namesrv).await.context("connect to the nameserver")?;
    ensure_topics(
        &admin,
        &[PRESENCE_HEARTBEAT, PRESENCE_EVENTS, PRESENCE_STATE],
        cfg.queues,
        cfg.create_topics,
        Duration::from_secs(60),
    )
    .await?;
    let epoch = format!("{:013}-{:08x}", mq_common::protocol::now_millis(), rand::random::<u32>());
    let clients = ServiceClients {
        namesrv: cfg.namesrv.clone(),
        instance: format!("{}-{}", cfg.instance_id, std::process::id()),
        refresh: cfg.client_refresh,
        send_timeout: cfg.send_timeout,
    };
    let producer = clients.producer(PG_PRESENCE, 1, "producer").await?;
    let engine = Engine::new(EngineCfg {
        instance: cfg.instance_id.clone(),
        epoch,
        sync_interval_ms: cfg.sync_interval.as_millis() as u64,
        lease_misses: cfg.lease_misses,
        cache_ttl_ms: cfg.cache_ttl.as_millis() as u64,
        reaper_batch: cfg.reaper_batch,
        queues: cfg.queues as usize,
    });
    let p = Arc::new(Presence {
        publisher: Publisher::start(producer.clone(), cfg.queues as usize, cfg.max_concurrent_sync),
        engine: Mutex::new(engine),
        readmodel: Mutex::new(StatusCache::default()),
        state_reader: TopicReader::new(admin.clone(), PRESENCE_STATE, CG_PRESENCE_STATE_READER),
        assigned: Mutex::new(Vec::new()),
        started: AtomicBool::new(false),
        origin: Instant::now(),
        cfg: cfg.clone(),
    });

    // Read-model first (so no event published after the snapshots is missed), then snapshots.
    let unique = clients.instance.clone();
    // Per-process offsets under OFFSETS_DIR, removed when `offsets` drops (any return).
    let offsets = OffsetsDir::new(&cfg.offsets_dir, "presence-readmodel", &unique);
    let pr = p.clone();
    let readmodel = clients
        .orderly_consumer(
            CG_PRESENCE_READMODEL,
            PRESENCE_EVENTS,
            MessageModel::Broadcasting,
            PRESENCE_PULL,
        )
        .consume_from(ConsumeFromWhere::Last)
        .offset_store_dir(Some(offsets.path().to_path_buf()))
        .shutdown_timeout(Duration::from_secs(2))
        .start(move |m: MessageExt| {
            let pr = pr.clone();
            async move {
                if let Ok(e) = serde_json::from_slice::<StatusEvent>(&m.body) {
                    pr.readmodel.lock().apply_event(&e);
                }
                Ok(())
            }
        })
        .await
        .context("start read-model consumer")?;
    for q in 0..cfg.queues {
        match read_last_state(&p.state_reader, q).await {
            Ok(Some(s)) => p.readmodel.lock().apply_state(&s),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(queue = q, error = %e, "could not read presence_state for the read-model")
            }
        }
    }

    let ph = p.clone();
    // Instance name without the pid: as before the helper existed (queue locks are per client id).
    let heartbeats = Arc::new(
        clients
            .named(cfg.instance_id.clone())
            .orderly_consumer(
                CG_PRESENCE,
                PRESENCE_HEARTBEAT,
                MessageModel::Clustering,
                PRESENCE_PULL,
            )
            .consume_from(ConsumeFromWhere::Last)
            .orderly_suspend(Duration::from_millis(300))
            .lock_interval(cfg.lock_interval)
            .persist_interval(Duration::from_secs(1))
            .shutdown_timeout(Duration::from_secs(3))
            .start(move |m: MessageExt| {
                let ph = ph.clone();
                async move { ph.on_heartbeat(m).await }
            })
            .await
            .context("start heartbeat consumer")?,
    );
    p.started.store(true, Ordering::SeqCst);

    let tick = tokio::spawn(ticker(p.clone()));
    let probe = tokio::spawn(prober(p.clone()));
    let own = tokio::spawn(ownership(p.clone(), heartbeats.clone()));

    crate::http::serve(p.clone(), shutdown_signal(signals)).await?;

    tracing::info!("shutting down: writing final snapshots");
    tick.abort();
    probe.abort();
    own.abort();
    let acks = {
        let e = p.engine.lock();
        let outs: Vec<_> = e
            .stats(p.now())
            .owned_queues
            .iter()
            .map(|q| crate::engine::Out::State(*q, e.snapshot(*q)))
            .collect();
        p.publisher.enqueue_acked(outs)
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), futures::future::join_all(acks)).await;
    heartbeats.shutdown().await;
    readmodel.shutdown().await;
    producer.shutdown().await;
    drop(offsets);
    Ok(())
}

/// Leases, reaper and snapshots: several times per sync interval so an expired lease is acted
/// on promptly (the work is proportional to the owned state, which is small).
async fn ticker(p: Arc<Presence>) {
    let period = (p.cfg.sync_interval / 4).max(Duration::from_millis(50));
    let mut iv = tokio::time::interval(period);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        iv.tick().await;
        let mut e = p.engine.lock();
        let outs = e.tick(p.now());
        p.publisher.enqueue(outs);
    }
}

/// The outage detector (design §5.2-6): a cheap broker call every half interval. No success
/// for longer than `SYNC_INTERVAL` makes the engine blind; the first success afterwards
/// restarts every lease and re-enters warm-up.
async fn prober(p: Arc<Presence>) {
    let mut last_ok = Instant::now();
    let period = (p.cfg.sync_interval / 2).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(period).await;
        let ok = tokio::time::timeout(p.cfg.sync_interval, async {
            let queues = p.state_reader.queues().await?;
            let (mq, addr) = queues.first().context("no route")?;
            p.state_reader.max_offset(mq, addr).await
        })
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
        let now = p.now();
        if ok {
            last_ok = Instant::now();
            let mut e = p.engine.lock();
            if e.is_blind() {
                tracing::warn!("broker reachable again: restarting leases and warming up");
                e.set_blind(false, now);
            }
        } else if last_ok.elapsed() > p.cfg.sync_interval {
            let mut e = p.engine.lock();
            if !e.is_blind() {
                tracing::warn!(
                    "broker unreachable: presence is blind, no connection will be reaped"
                );
                e.set_blind(true, now);
            }
        }
    }
}

/// Follow the heartbeat consumer's queue assignment: queues taken away are forgotten (their
/// new owner warms up from `presence_state`); new ones are restored at their first message.
async fn ownership(p: Arc<Presence>, consumer: Arc<PushConsumer>) {
    let period = p.cfg.client_refresh.min(Duration::from_secs(1));
    loop {
        tokio::time::sleep(period).await;
        let mut assigned: Vec<i32> = consumer
            .assigned_queues()
            .into_iter()
            .filter(|q| q.topic == PRESENCE_HEARTBEAT)
            .map(|q| q.queue_id)
            .collect();
        assigned.sort_unstable();
        assigned.dedup();
        {
            let mut e = p.engine.lock();
            let owned = e.stats(p.now()).owned_queues;
            for q in owned {
                if !assigned.contains(&q) {
                    tracing::info!(queue = q, "presence queue revoked");
                    e.release(q);
                }
            }
        }
        *p.assigned.lock() = assigned;
    }
}

async fn shutdown_signal(mut signals: Signals) {
    let signal = signals.recv().await;
    tracing::info!(signal, "shutting down");
}
