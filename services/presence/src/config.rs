//! Settings from the environment (design §5.7). Every interval can be overridden so tests run
//! in seconds.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use chat_ddp_streamer::env::{ms, opt, secs, var};

/// Presence service settings.
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// `PORT` (3005): HTTP API.
    pub port: u16,
    /// `HEALTH_CHECK_PORT` (unset = `PORT`): separate `/health` + `/ready` listener.
    pub health_port: Option<u16>,
    /// `BIND_ADDR` (0.0.0.0).
    pub bind: String,
    /// `CACHE_TTL` s (300, fractions allowed): per-connection stale threshold.
    pub cache_ttl: Duration,
    /// `SYNC_INTERVAL` ms (5000): expected gateway batch period and reaper tick.
    pub sync_interval: Duration,
    /// `GATEWAY_LEASE_MISSES` (3).
    pub lease_misses: u64,
    /// `INSTANCE_ID` (hostname-pid): owner identity; also the consumer instance name, so a
    /// restart with the same id takes its orderly queue locks back at once.
    pub instance_id: String,
    /// `MAX_CONCURRENT_SYNC` (64): in-flight publishes of events and snapshots.
    pub max_concurrent_sync: usize,
    /// `REAPER_BATCH_SIZE` (500).
    pub reaper_batch: usize,
    /// `NAMESRV_ADDR` (127.0.0.1:9876).
    pub namesrv: String,
    /// `PRESENCE_QUEUES` (8).
    pub queues: i32,
    /// `CREATE_TOPICS` (true).
    pub create_topics: bool,
    /// `BROKER_HEARTBEAT_INTERVAL` ms (5000): client heartbeat, route refresh and rebalance period.
    pub client_refresh: Duration,
    /// `LOCK_INTERVAL` ms (5000): orderly queue-lock refresh period.
    pub lock_interval: Duration,
    /// `SEND_TIMEOUT` ms (3000).
    pub send_timeout: Duration,
    /// HTTP listener limits (`HTTP_HEADER_TIMEOUT`, `MAX_HTTP_CONNECTIONS`: see
    /// `chat_ddp_streamer::config::http_limits`).
    pub http: mq_common::http::HttpLimits,
    /// `OFFSETS_DIR` (the system temp dir): parent of the read-model consumer's per-process
    /// offsets directory, removed on shutdown (as the gateway's, see
    /// `chat_ddp_streamer::offsets_dir`).
    pub offsets_dir: PathBuf,
    /// `STATUS_API_TOKEN` (unset = open): `/v1/status` and `/v1/stats` answer only requests
    /// with `Authorization: Bearer <this>` (they show who is online). `/health`, `/ready`
    /// and `/metrics` (counts only) stay open for probes and scrapers.
    pub status_token: Option<String>,
}

impl PresenceConfig {
    /// Read from the environment.
    pub fn from_env() -> anyhow::Result<PresenceConfig> {
        let sync: u64 = var("SYNC_INTERVAL", 5000)?;
        if sync == 0 {
            bail!("SYNC_INTERVAL must be > 0");
        }
        Ok(PresenceConfig {
            port: var("PORT", 3005)?,
            health_port: opt("HEALTH_CHECK_PORT")?,
            bind: var("BIND_ADDR", "0.0.0.0".to_string())?,
            cache_ttl: secs("CACHE_TTL", 300.0)?,
            sync_interval: Duration::from_millis(sync),
            lease_misses: var("GATEWAY_LEASE_MISSES", 3)?.max(1),
            instance_id: var("INSTANCE_ID", chat_ddp_streamer::config::default_instance_id())?,
            max_concurrent_sync: var("MAX_CONCURRENT_SYNC", 64)?.max(1),
            reaper_batch: var("REAPER_BATCH_SIZE", 500)?.max(1),
            namesrv: var("NAMESRV_ADDR", "127.0.0.1:9876".to_string())?,
            queues: var("PRESENCE_QUEUES", chat_proto::presence_bodies::PRESENCE_QUEUES)?,
            create_topics: var("CREATE_TOPICS", "true".to_string())? != "false",
            client_refresh: ms("BROKER_HEARTBEAT_INTERVAL", 5000)?,
            lock_interval: ms("LOCK_INTERVAL", 5000)?,
            send_timeout: ms("SEND_TIMEOUT", 3000)?,
            offsets_dir: chat_ddp_streamer::config::offsets_dir()?,
            http: chat_ddp_streamer::config::http_limits()?,
            status_token: opt::<String>("STATUS_API_TOKEN")?.filter(|t| !t.is_empty()),
        })
    }
}
