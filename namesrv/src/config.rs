//! `NamesrvConfig`: the name server's settings under Apache's key names (spec §6.2, §6.3).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mq_common::config::{expand_home, SecurityConfig};

/// Prefix of environment overrides: `MQNAMESRV_LISTEN_PORT=9877` sets `listenPort`.
pub const ENV_PREFIX: &str = "MQNAMESRV";

/// Name server configuration. Defaults follow Apache RocketMQ 4.9 (`NamesrvConfig`,
/// `NettyServerConfig`, `RouteInfoManager`); all timings are configurable so tests can run in
/// seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct NamesrvConfig {
    /// Address to bind (`bindAddress`, 5.x Netty key); default all interfaces.
    pub bind_address: String,
    /// Port to listen on (`listenPort`, 9876). 0 picks a free port.
    pub listen_port: u16,
    /// `rocketmqHome`: accepted for compatibility, unused.
    pub rocketmq_home: String,
    /// Where the KV config is persisted (`kvConfigPath`, `~/namesrv/kvConfig.json`).
    pub kv_config_path: PathBuf,
    /// Put `orderTopicConf` from the `ORDER_TOPIC_CONFIG` KV namespace into routes.
    pub order_message_enable: bool,
    /// Answer GET_ALL_TOPIC_LIST_FROM_NAMESERVER (otherwise SYSTEM_ERROR "disable").
    pub enable_all_topic_list: bool,
    /// Answer GET_TOPICS_BY_CLUSTER and the unit topic lists (5.x `enableTopicList`).
    pub enable_topic_list: bool,
    /// 5.x: a master's registration drops its queue data for topics missing from the body.
    pub delete_topic_with_broker_registration: bool,
    /// How often the scanner looks for silent brokers, ms (4.x: 10 s).
    pub scan_not_active_broker_interval: u64,
    /// A broker silent for longer than this is evicted, ms (Java's
    /// `DEFAULT_BROKER_CHANNEL_EXPIRED_TIME`, 120 s); a broker may send its own
    /// `heartbeatTimeoutMillis`.
    pub broker_channel_expired_time: u64,
    /// Close a connection that sent nothing for this long, s (`serverChannelMaxIdleTimeSeconds`).
    pub server_channel_max_idle_time_seconds: u64,
    /// Largest accepted frame, bytes (`com.rocketmq.remoting.frameMaxLength`, 16 MiB).
    pub frame_max_length: usize,
    /// Connection cap (`serverMaxConnections`, 10,000; rmq's key, Java has none): a connection
    /// past it is closed at once.
    pub server_max_connections: usize,
    /// Unwritten response bytes per connection above which its reading pauses
    /// (`writeBufferHighWaterMark`, 4 MiB).
    pub write_buffer_high_water_mark: usize,
    /// ... and at or below which it resumes (`writeBufferLowWaterMark`, 1 MiB).
    pub write_buffer_low_water_mark: usize,
    /// Access control (`aclEnable`: route and KV writes need a signed admin request) and TLS
    /// (`tlsMode`, ...), the same keys as the broker's.
    pub security: SecurityConfig,
    /// The file given with `-c` (not a key): the ACL file defaults to `plain_acl.yml` beside it.
    pub config_file: Option<PathBuf>,
    /// `metricsExporterType`: DISABLE (default) or PROM.
    pub metrics_exporter_type: mq_common::metrics::ExporterType,
    /// `metricsPromExporterHost`: bind address of the metrics endpoint ("" = as bindAddress).
    pub metrics_prom_exporter_host: String,
    /// `metricsPromExporterPort` (5558: the broker's default 5557 + 1; 0 = a free port).
    pub metrics_prom_exporter_port: u16,
    /// `enableControllerInNamesrv`: run a controller replica in this process (Java's
    /// `NamesrvStartup#controllerManagerMain`), configured by [`NamesrvConfig::controller`].
    pub enable_controller_in_namesrv: bool,
    /// The embedded controller's settings: the `mqcontroller` keys (`controllerDLegerGroup`,
    /// `controllerDLegerPeers`, `controllerDLegerSelfId`, `controllerStorePath`, ...) read
    /// from the same file, as Java fills its `ControllerConfig` from namesrv.conf. It serves
    /// on its own peer address, as Java's DLedger controller does. `scanNotActiveBrokerInterval`
    /// is the name server's key here; the controller keeps its own default (1 s).
    pub controller: mq_controller::ControllerConfig,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        NamesrvConfig {
            bind_address: "0.0.0.0".into(),
            listen_port: 9876,
            rocketmq_home: std::env::var("ROCKETMQ_HOME").unwrap_or_default(),
            kv_config_path: expand_home("~/namesrv/kvConfig.json"),
            order_message_enable: false,
            enable_all_topic_list: true,
            enable_topic_list: true,
            delete_topic_with_broker_registration: false,
            scan_not_active_broker_interval: 10_000,
            broker_channel_expired_time: 120_000,
            server_channel_max_idle_time_seconds: 120,
            frame_max_length: mq_common::protocol::frame::DEFAULT_MAX_FRAME,
            server_max_connections: mq_common::remoting::server::DEFAULT_MAX_CONNECTIONS,
            write_buffer_high_water_mark: mq_common::remoting::server::DEFAULT_WRITE_HIGH_WATER,
            write_buffer_low_water_mark: mq_common::remoting::server::DEFAULT_WRITE_LOW_WATER,
            security: SecurityConfig::default(),
            config_file: None,
            metrics_exporter_type: mq_common::metrics::ExporterType::Disable,
            metrics_prom_exporter_host: String::new(),
            metrics_prom_exporter_port: 5558,
            enable_controller_in_namesrv: false,
            controller: mq_controller::ControllerConfig::default(),
        }
    }
}

mq_common::config_keys!(NamesrvConfig {
    bind_address: "bindAddress" | "listenAddress", important;
    listen_port: "listenPort", important;
    rocketmq_home: "rocketmqHome";
    kv_config_path: "kvConfigPath", important;
    order_message_enable: "orderMessageEnable", important;
    enable_all_topic_list: "enableAllTopicList";
    enable_topic_list: "enableTopicList";
    delete_topic_with_broker_registration: "deleteTopicWithBrokerRegistration";
    scan_not_active_broker_interval: "scanNotActiveBrokerInterval", important;
    broker_channel_expired_time: "brokerChannelExpiredTime", important;
    server_channel_max_idle_time_seconds: "serverChannelMaxIdleTimeSeconds";
    frame_max_length: "frameMaxLength" | "com.rocketmq.remoting.frameMaxLength";
    server_max_connections: "serverMaxConnections";
    write_buffer_high_water_mark: "writeBufferHighWaterMark";
    write_buffer_low_water_mark: "writeBufferLowWaterMark";
    metrics_exporter_type: "metricsExporterType", important;
    metrics_prom_exporter_host: "metricsPromExporterHost";
    metrics_prom_exporter_port: "metricsPromExporterPort", important;
    enable_controller_in_namesrv: "enableControllerInNamesrv", important;
}
nested: security;
nested: controller;
);

/// Keys UPDATE_NAMESRV_CONFIG may not change at run time (Java's `configBlackList` plus the
/// listen settings, which only take effect at bind time).
pub const RUNTIME_BLACKLIST: &[&str] = &[
    "configBlackList",
    "configStorePath",
    "kvConfigPath",
    "listenPort",
    "bindAddress",
    "listenAddress",
    "frameMaxLength",
    "serverChannelMaxIdleTimeSeconds",
    "serverMaxConnections",
    "writeBufferHighWaterMark",
    "writeBufferLowWaterMark",
    "metricsExporterType",
    "metricsPromExporterHost",
    "metricsPromExporterPort",
    // The embedded controller starts with the process.
    "enableControllerInNamesrv",
    "controllerDLegerGroup",
    "controllerDLegerPeers",
    "controllerDLegerSelfId",
    "controllerStorePath",
];

impl NamesrvConfig {
    /// The socket address to bind.
    pub fn listen_socket_addr(&self) -> Result<SocketAddr, String> {
        let ip: IpAddr = self
            .bind_address
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|e| {
                format!("bindAddress '{}' is not an IP address: {e}", self.bind_address)
            })?;
        Ok(SocketAddr::new(ip, self.listen_port))
    }

    /// Scanner period (at least 1 ms).
    pub fn scan_interval(&self) -> Duration {
        Duration::from_millis(self.scan_not_active_broker_interval.max(1))
    }

    /// Default liveness timeout of a broker.
    pub fn broker_expiry(&self) -> Duration {
        Duration::from_millis(self.broker_channel_expired_time)
    }

    /// Check relations between values that each parse on their own.
    pub fn validate(&self) -> Result<(), String> {
        self.listen_socket_addr()?;
        if self.scan_not_active_broker_interval == 0 {
            return Err("scanNotActiveBrokerInterval must be > 0".into());
        }
        if self.broker_channel_expired_time == 0 {
            return Err("brokerChannelExpiredTime must be > 0".into());
        }
        if self.frame_max_length < 1024 {
            return Err("frameMaxLength must be at least 1024".into());
        }
        self.security.validate()?;
        if self.enable_controller_in_namesrv {
            self.controller.validate()?;
        }
        self.server_config().map(|_| ())
    }

    /// The remoting server settings (connection cap, idle timeout, output bounds, frames).
    pub fn server_config(&self) -> Result<mq_common::remoting::ServerConfig, String> {
        mq_common::remoting::ServerConfig::from_keys(
            self.server_max_connections,
            self.server_channel_max_idle_time_seconds,
            self.write_buffer_high_water_mark,
            self.write_buffer_low_water_mark,
            self.frame_max_length,
        )
    }
}

/// Parse a `--listen` value: `host:port`, `[v6]:port`, or a bare port.
pub fn parse_listen(s: &str) -> Result<(String, u16), String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(("0.0.0.0".into(), port));
    }
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("expected HOST:PORT (an IP address and a port), got '{s}'"))?;
    Ok((addr.ip().to_string(), addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::config::{load_layered_with_env, render_config, ConfigKeys};

    #[test]
    fn defaults_match_apache() {
        let c = NamesrvConfig::default();
        assert_eq!(c.listen_port, 9876);
        assert_eq!(c.scan_not_active_broker_interval, 10_000);
        assert_eq!(c.broker_channel_expired_time, 120_000);
        assert!(c.kv_config_path.ends_with("namesrv/kvConfig.json"));
        assert!(c.enable_all_topic_list && !c.order_message_enable);
        c.validate().unwrap();
    }

    #[test]
    fn layered_keys() {
        let mut c = NamesrvConfig::default();
        let env =
            vec![("MQNAMESRV_SCAN_NOT_ACTIVE_BROKER_INTERVAL".to_string(), "200".to_string())];
        let cli = vec![("brokerChannelExpiredTime".to_string(), "1000".to_string())];
        let w = load_layered_with_env(&mut c, None, ENV_PREFIX, env, &cli).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.scan_interval(), Duration::from_millis(200));
        assert_eq!(c.broker_expiry(), Duration::from_secs(1));
        assert!(c.apply("listenPort", "70000").is_err());
        assert!(render_config(&c, false).contains("brokerChannelExpiredTime=1000\n"));
    }

    #[test]
    fn listen_values() {
        assert_eq!(parse_listen("127.0.0.1:0"), Ok(("127.0.0.1".into(), 0)));
        assert_eq!(parse_listen("9877"), Ok(("0.0.0.0".into(), 9877)));
        assert_eq!(parse_listen("[::1]:5"), Ok(("::1".into(), 5)));
        assert!(parse_listen("localhost:1").is_err());
        let mut c = NamesrvConfig { bind_address: "::1".into(), ..Default::default() };
        assert!(c.listen_socket_addr().unwrap().is_ipv6());
        c.bind_address = "nope".into();
        assert!(c.validate().is_err());
    }
}
