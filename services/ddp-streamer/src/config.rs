//! Settings of both binaries, read from the environment (design §4.9). Every interval can be
//! overridden so tests run in seconds.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::env::{flag, ms, secs, var};

/// The HTTP listener limits of every chat binary: `HTTP_HEADER_TIMEOUT` s (10, fractions
/// allowed) for a request's line and headers to arrive, `MAX_HTTP_CONNECTIONS` (1024) HTTP
/// connections at once (WebSockets count once upgraded against `MAX_CONCURRENT_CONNECTIONS`
/// instead).
pub fn http_limits() -> anyhow::Result<mq_common::http::HttpLimits> {
    Ok(mq_common::http::HttpLimits {
        header_read_timeout: secs("HTTP_HEADER_TIMEOUT", 10.0)?,
        max_connections: var("MAX_HTTP_CONNECTIONS", 1024usize)?.max(1),
    })
}

/// `OFFSETS_DIR`, defaulting to the system temp dir.
pub fn offsets_dir() -> anyhow::Result<PathBuf> {
    Ok(crate::env::opt::<PathBuf>("OFFSETS_DIR")?.unwrap_or_else(std::env::temp_dir))
}

/// The default instance id: `<hostname>-<pid>`.
pub fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
}

/// Settings common to gateway and observer.
#[derive(Debug, Clone)]
pub struct Common {
    /// `NAMESRV_ADDR` (127.0.0.1:9876).
    pub namesrv: String,
    /// `INSTANCE_ID` (hostname-pid).
    pub instance_id: String,
    /// `JWT_SECRET` (required).
    pub jwt_secret: Vec<u8>,
    /// `JWT_AUDIENCE` (chat).
    pub jwt_audience: String,
    /// `CHAT_QUEUES` (8): expected write-queue count of both chat topics.
    pub chat_queues: i32,
    /// `SEND_TIMEOUT` ms (3000).
    pub send_timeout: Duration,
    /// `SEND_RETRIES` (2).
    pub send_retries: usize,
    /// `CREATE_TOPICS` (true): create the chat topics through the admin API at startup.
    pub create_topics: bool,
    /// `BROKER_HEARTBEAT_INTERVAL` ms (5000): client heartbeat/route refresh period; short so a
    /// restarted broker is found again quickly.
    pub client_refresh: Duration,
    /// HTTP listener limits (see [`http_limits`]).
    pub http: mq_common::http::HttpLimits,
    /// `OFFSETS_DIR` (the system temp dir): where the gateway's broadcasting consumers keep
    /// their offsets, each in its own `<kind>-<instance>-<pid>` subdirectory that the process
    /// removes on shutdown (see [`crate::offsets_dir`]). Point it at a directory you clean up
    /// (tests: their temp dir) so a killed process leaves nothing behind elsewhere.
    pub offsets_dir: PathBuf,
}

impl Common {
    fn from_env() -> anyhow::Result<Common> {
        let secret = std::env::var("JWT_SECRET").context("JWT_SECRET must be set")?;
        if secret.is_empty() {
            bail!("JWT_SECRET must not be empty");
        }
        Ok(Common {
            namesrv: var("NAMESRV_ADDR", "127.0.0.1:9876".to_string())?,
            instance_id: var("INSTANCE_ID", default_instance_id())?,
            jwt_secret: secret.into_bytes(),
            jwt_audience: var("JWT_AUDIENCE", "chat".to_string())?,
            chat_queues: var("CHAT_QUEUES", chat_proto::topics::CHAT_QUEUES)?,
            send_timeout: ms("SEND_TIMEOUT", 3000)?,
            send_retries: var("SEND_RETRIES", 2)?,
            create_topics: var("CREATE_TOPICS", "true".to_string())? != "false",
            client_refresh: ms("BROKER_HEARTBEAT_INTERVAL", 5000)?,
            offsets_dir: offsets_dir()?,
            http: http_limits()?,
        })
    }
}

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Shared settings.
    pub common: Common,
    /// `PORT` (3000); 0 picks a free port (printed on stdout as `listening on ...`).
    pub port: u16,
    /// `BIND_ADDR` (0.0.0.0).
    pub bind: String,
    /// `MAX_CONCURRENT_CONNECTIONS` (1000): upgrades beyond get HTTP 503.
    pub max_connections: usize,
    /// `HEARTBEAT_INTERVAL` s (30): idle time before the server pings.
    pub heartbeat: Duration,
    /// `CONNECTION_TIMEOUT` s (60): idle time before close 4000.
    pub connection_timeout: Duration,
    /// `LOGIN_TIMEOUT` s (30): a socket not logged in by then is closed 1008, so sockets that
    /// only answer pings cannot hold connection slots.
    pub login_timeout: Duration,
    /// `ENABLE_TLS` with `TLS_CERT_PATH` / `TLS_KEY_PATH` (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `MAX_BUFFERED_BYTES` (4 MiB): queued outbound bytes above which a socket is closed 1013.
    pub max_buffered_bytes: usize,
    /// `MAX_OUTBOUND_FRAMES` (4096): queued outbound frames above which a socket is closed 1013.
    pub max_outbound_frames: usize,
    /// `MAX_MESSAGE_LENGTH` (5000 characters).
    pub max_message_length: usize,
    /// `HISTORY_WINDOW` s (86400): first query window of `loadHistory`.
    pub history_window: Duration,
    /// `GAPFILL_MAX_SCAN` (20000): messages scanned by `loadMissedMessages` before error 413.
    pub gapfill_max_scan: usize,
    /// `DEV_LOGIN` (off): serve `POST /dev/token` minting tokens for any user (demo only).
    pub dev_login: bool,
    /// `TOKEN_CHECK_INTERVAL` s (30): how often a logged-in socket's `exp` is checked.
    pub token_check: Duration,
    /// `GATEWAY_DEDUPE_CACHE` (200000): recently pushed message ids remembered.
    pub dedupe_cache: usize,
}

impl GatewayConfig {
    /// Read from the environment.
    pub fn from_env() -> anyhow::Result<GatewayConfig> {
        let heartbeat = secs("HEARTBEAT_INTERVAL", 30.0)?;
        let connection_timeout = secs("CONNECTION_TIMEOUT", 60.0)?;
        if connection_timeout <= heartbeat {
            bail!("CONNECTION_TIMEOUT must be greater than HEARTBEAT_INTERVAL");
        }
        let tls = if flag("ENABLE_TLS") {
            let cert = std::env::var("TLS_CERT_PATH").context("ENABLE_TLS needs TLS_CERT_PATH")?;
            let key = std::env::var("TLS_KEY_PATH").context("ENABLE_TLS needs TLS_KEY_PATH")?;
            Some((cert.into(), key.into()))
        } else {
            None
        };
        Ok(GatewayConfig {
            common: Common::from_env()?,
            port: var("PORT", 3000)?,
            bind: var("BIND_ADDR", "0.0.0.0".to_string())?,
            max_connections: var("MAX_CONCURRENT_CONNECTIONS", 1000)?,
            heartbeat,
            connection_timeout,
            login_timeout: secs("LOGIN_TIMEOUT", 30.0)?,
            tls,
            max_buffered_bytes: var("MAX_BUFFERED_BYTES", 4 * 1024 * 1024)?,
            max_outbound_frames: var("MAX_OUTBOUND_FRAMES", 4096)?,
            max_message_length: var("MAX_MESSAGE_LENGTH", 5000)?,
            history_window: secs("HISTORY_WINDOW", 86400.0)?,
            gapfill_max_scan: var("GAPFILL_MAX_SCAN", 20_000)?,
            dev_login: flag("DEV_LOGIN"),
            token_check: secs("TOKEN_CHECK_INTERVAL", 30.0)?,
            dedupe_cache: var("GATEWAY_DEDUPE_CACHE", 200_000)?,
        })
    }
}

/// Observer settings.
#[derive(Debug, Clone)]
pub struct ObserverConfig {
    /// Shared settings.
    pub common: Common,
    /// `HEALTH_CHECK_PORT` (3010; 0 = any free port).
    pub health_port: u16,
    /// `JWT_GRACE_S` (60): a token is checked against the message's born time plus this.
    pub jwt_grace_s: i64,
    /// `OBSERVER_DEDUPE_CACHE` (200000).
    pub dedupe_cache: usize,
    /// `BLOCK_NOTIFY_SENDER` (false): tell a blocked sender that the message was dropped.
    pub block_notify_sender: bool,
    /// `REBALANCE_INTERVAL` ms (5000) of the orderly consumer.
    pub rebalance_interval: Duration,
    /// `LOCK_INTERVAL` ms (5000): orderly queue-lock refresh period.
    pub lock_interval: Duration,
    /// `RECOVERY_AGE` ms (3000): messages born longer ago than this are also looked up in
    /// `chat_inbox` by key before publishing (the crash-before-commit window).
    pub recovery_age: Duration,
    /// `FOLLOW_INTERVAL` ms (100): poll period of the inbox follower.
    pub follow_interval: Duration,
    /// `REBUILD_WINDOW` (50000): inbox events per queue read back at start for the dedupe window,
    /// even when the policy snapshot is newer.
    pub rebuild_window: i64,
    /// `SNAPSHOT_INTERVAL` s (3600): periodic `chat_policy_state` refresh.
    pub snapshot_interval: Duration,
    /// `OBSERVER_MAX_RECONSUME` (16): retries of a `chat_outgoing` message whose processing
    /// failed (a transient publish failure) before it is moved to `%DLQ%cg_chat_observer`, so
    /// one bad message cannot block its conversation's queue for ever.
    pub max_reconsume: i32,
    /// `RETRY_BACKOFF_MAX` ms (5000): cap of the doubling pause before each retry (from 500 ms).
    pub retry_backoff_max: Duration,
}

impl ObserverConfig {
    /// Read from the environment.
    pub fn from_env() -> anyhow::Result<ObserverConfig> {
        Ok(ObserverConfig {
            common: Common::from_env()?,
            health_port: var("HEALTH_CHECK_PORT", 3010)?,
            jwt_grace_s: var("JWT_GRACE_S", 60)?,
            dedupe_cache: var("OBSERVER_DEDUPE_CACHE", 200_000)?,
            block_notify_sender: flag("BLOCK_NOTIFY_SENDER"),
            rebalance_interval: ms("REBALANCE_INTERVAL", 5000)?,
            lock_interval: ms("LOCK_INTERVAL", 5000)?,
            recovery_age: ms("RECOVERY_AGE", 3000)?,
            follow_interval: ms("FOLLOW_INTERVAL", 100)?,
            rebuild_window: var("REBUILD_WINDOW", 50_000)?,
            snapshot_interval: secs("SNAPSHOT_INTERVAL", 3600.0)?,
            max_reconsume: var("OBSERVER_MAX_RECONSUME", 16)?,
            retry_backoff_max: ms("RETRY_BACKOFF_MAX", 5000)?,
        })
    }
}
