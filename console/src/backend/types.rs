//! Typed results the console reads from the cluster. They are serialized as-is by the JSON API
//! (camelCase), so the UI and the API tests see exactly these shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One broker (or the nameserver) that did not answer, named so the UI can say "broker X failed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerFailure {
    /// Broker name (or `namesrv`).
    pub broker: String,
    /// Address that was called.
    pub addr: String,
    /// What went wrong.
    pub error: String,
}

/// A result gathered from several brokers: what answered, plus who did not.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partial<T> {
    /// The merged answers.
    pub items: T,
    /// Brokers that failed (empty when every broker answered).
    pub failures: Vec<BrokerFailure>,
}

impl<T> Partial<T> {
    /// A complete answer.
    pub fn complete(items: T) -> Self {
        Partial { items, failures: Vec::new() }
    }
}

/// Consumer lag: known, or unknown with a reason. Never encoded as -1 or 0 when unknown
/// (the classic dashboard's most reported bug).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Lag {
    /// Messages not yet consumed.
    Known {
        /// Count of messages behind.
        value: i64,
    },
    /// Could not be determined.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl Lag {
    /// Known lag.
    pub fn known(value: i64) -> Self {
        Lag::Known { value }
    }

    /// Unknown lag with a reason.
    pub fn unknown(reason: impl Into<String>) -> Self {
        Lag::Unknown { reason: reason.into() }
    }

    /// Lag of one queue: `broker - consumer`, unknown without a committed consumer offset.
    /// A negative difference (consumer offset ahead, e.g. after a broker truncation) is reported
    /// as unknown rather than clamped, so it is never shown as "no backlog" by accident.
    pub fn of_queue(broker_offset: i64, consumer_offset: Option<i64>) -> Self {
        match consumer_offset {
            None => Lag::unknown("no committed consumer offset"),
            Some(c) if c > broker_offset => Lag::unknown(format!(
                "consumer offset {c} is ahead of broker offset {broker_offset}"
            )),
            Some(c) => Lag::known(broker_offset - c),
        }
    }

    /// Sum of several lags: known only when every part is known.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Lag>) -> Lag {
        let mut total = 0i64;
        let mut unknown = 0usize;
        let mut n = 0usize;
        let mut first_reason = None;
        for p in parts {
            n += 1;
            match p {
                Lag::Known { value } => total += value,
                Lag::Unknown { reason } => {
                    unknown += 1;
                    first_reason.get_or_insert_with(|| reason.clone());
                }
            }
        }
        if n == 0 {
            return Lag::unknown("no queues");
        }
        if unknown == 0 {
            Lag::known(total)
        } else {
            Lag::unknown(format!(
                "{unknown} of {n} queues unknown: {}",
                first_reason.unwrap_or_default()
            ))
        }
    }

    /// The value when known.
    pub fn value(&self) -> Option<i64> {
        match self {
            Lag::Known { value } => Some(*value),
            Lag::Unknown { .. } => None,
        }
    }
}

/// One broker instance as shown on the overview page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerInfo {
    /// Cluster name.
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// Broker id (0 = master).
    pub broker_id: i64,
    /// Address.
    pub addr: String,
    /// `MASTER` / `SLAVE` (from the id, or the broker's own runtime report).
    pub role: String,
    /// Version reported by the broker.
    pub version: Option<String>,
    /// Messages put today.
    pub put_today: Option<i64>,
    /// Messages got today.
    pub get_today: Option<i64>,
    /// Running put total (used by the TPS sampler).
    pub put_total: Option<i64>,
    /// Running get total (used by the TPS sampler).
    pub get_total: Option<i64>,
    /// Commit-log disk use, 0..1.
    pub disk_ratio: Option<f64>,
    /// Boot time, ms.
    pub boot_timestamp: Option<i64>,
    /// Error when the runtime info call failed (the broker is still listed).
    /// Commit-log max offset (replicas: compare with the master's).
    pub max_offset: Option<i64>,
    /// A slave's bytes behind its group's master (`None` for a master or an unknown master).
    pub behind_bytes: Option<i64>,
    pub error: Option<String>,
}

/// Clusters → brokers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOverview {
    /// Nameserver addresses used.
    pub namesrv: Vec<String>,
    /// Brokers of every cluster, sorted by cluster, name, id.
    pub brokers: Vec<BrokerInfo>,
    /// Broker groups in controller mode, as their controllers describe them (empty when
    /// none is), sorted by cluster and name.
    #[serde(default)]
    pub controller_groups: Vec<ControllerGroup>,
}

/// One broker group in controller mode (`enableControllerMode=true`): what its controllers
/// hold (CONTROLLER_GET_SYNC_STATE_DATA, as `mqadmin getSyncStateSet`) with each replica's
/// commit-log offset from its own runtime report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerGroup {
    /// Cluster name.
    pub cluster: String,
    /// Broker name.
    pub broker_name: String,
    /// The controllers asked (the brokers' `controllerAddr`).
    pub controller_addr: String,
    /// The master's controller id (`None`: no master now).
    pub master_broker_id: Option<u64>,
    /// The master's address.
    pub master_addr: Option<String>,
    /// Master epoch.
    pub master_epoch: i32,
    /// In-sync set epoch.
    pub sync_state_set_epoch: i32,
    /// The replicas the controllers know, in-sync ones first, then by id.
    pub replicas: Vec<ControllerReplica>,
    /// Why the controllers could not be asked (the other fields are then empty).
    pub error: Option<String>,
}

/// `POST /api/controller/elect`: make one replica of a controller-mode group its master
/// (`mqadmin electMaster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElectRequest {
    /// Cluster name.
    pub cluster: String,
    /// Broker (group) name.
    pub broker_name: String,
    /// Controller-assigned id of the replica to make master.
    pub broker_id: u64,
}

/// One replica of a [`ControllerGroup`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerReplica {
    /// Controller-assigned id.
    pub broker_id: u64,
    /// Address.
    pub addr: String,
    /// Whether it is the master.
    pub master: bool,
    /// In the in-sync set.
    pub in_sync: bool,
    /// Heart-beating to the controller that answered.
    pub alive: bool,
    /// Commit-log max offset from its runtime report (`None`: it did not answer).
    pub max_offset: Option<i64>,
}

/// Kind of a topic, for filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TopicKind {
    /// User topic.
    Normal,
    /// `%RETRY%group`.
    Retry,
    /// `%DLQ%group`.
    Dlq,
    /// Broker-internal topic (TBW102, SCHEDULE_TOPIC_XXXX, cluster/broker-name topics, ...).
    System,
}

impl TopicKind {
    /// Classify a topic name. `system_names` holds cluster and broker names, which brokers
    /// register as topics.
    pub fn classify(name: &str, system_names: &[String]) -> Self {
        use mq_common::protocol::body::system_topics as st;
        if name.starts_with(st::RETRY_PREFIX) {
            TopicKind::Retry
        } else if name.starts_with(st::DLQ_PREFIX) {
            TopicKind::Dlq
        } else if name.starts_with("rmq_sys_")
            || name.starts_with("RMQ_SYS_")
            || name.ends_with("_REPLY_TOPIC")
            || [
                st::TBW102,
                st::SCHEDULE_TOPIC,
                st::SELF_TEST_TOPIC,
                st::OFFSET_MOVED_EVENT,
                st::BENCHMARK_TOPIC,
                st::TRANS_CHECK_MAX_TIME_TOPIC,
            ]
            .contains(&name)
            || system_names.iter().any(|s| s == name)
        {
            TopicKind::System
        } else {
            TopicKind::Normal
        }
    }
}

/// One topic in the topic list (merged over the brokers hosting it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicSummary {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: TopicKind,
    /// Broker names hosting it.
    pub brokers: Vec<String>,
    /// Read queues (summed over brokers).
    pub read_queues: i32,
    /// Write queues (summed over brokers).
    pub write_queues: i32,
    /// Permission bits (of the first broker).
    pub perm: i32,
    /// Ordered topic.
    pub order: bool,
}

/// Route of a topic as the nameserver reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRoute {
    /// Brokers: name, cluster, id → address.
    pub brokers: Vec<RouteBroker>,
    /// Queues per broker name.
    pub queues: Vec<RouteQueues>,
}

/// A broker of a route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteBroker {
    /// Broker name.
    pub broker_name: String,
    /// Cluster.
    pub cluster: String,
    /// Broker id → address.
    pub addrs: BTreeMap<String, String>,
}

/// Queue counts of a topic on one broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteQueues {
    /// Broker name.
    pub broker_name: String,
    /// Read queues.
    pub read_queues: i32,
    /// Write queues.
    pub write_queues: i32,
    /// Permission bits.
    pub perm: i32,
}

/// Status of one queue of a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Min offset.
    pub min_offset: i64,
    /// Max offset.
    pub max_offset: i64,
    /// Store time of the last message, ms (None when the queue is empty).
    pub last_update_timestamp: Option<i64>,
}

/// Create or update a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicCreate {
    /// Name.
    pub name: String,
    /// Read queues per broker.
    pub read_queues: i32,
    /// Write queues per broker.
    pub write_queues: i32,
    /// Permission bits (6 = read+write).
    pub perm: i32,
    /// Ordered topic.
    #[serde(default)]
    pub order: bool,
    /// Target brokers by name; empty = every master of `cluster` (or of every cluster).
    #[serde(default)]
    pub brokers: Vec<String>,
    /// Target cluster.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// What happened on one broker for a write operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerOpResult {
    /// Broker name.
    pub broker: String,
    /// Address.
    pub addr: String,
    /// Success.
    pub ok: bool,
    /// Error when not ok.
    pub error: Option<String>,
}

/// A test message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    /// Topic.
    pub topic: String,
    /// Tag.
    #[serde(default)]
    pub tags: Option<String>,
    /// Keys (space separated).
    #[serde(default)]
    pub keys: Option<String>,
    /// Body text (UTF-8).
    pub body: String,
}

/// Outcome of a send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResult {
    /// `SEND_OK`, `FLUSH_DISK_TIMEOUT`, ...
    pub status: String,
    /// Client message id (UNIQ_KEY).
    pub msg_id: String,
    /// Broker offset message id.
    pub offset_msg_id: Option<String>,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Queue offset.
    pub queue_offset: i64,
}

/// One consumer group in the group list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummary {
    /// Name.
    pub name: String,
    /// Internal group (console/tools/broker-owned).
    pub system: bool,
    /// Brokers that know the group.
    pub brokers: Vec<String>,
    /// Consume broadcast enabled (config).
    pub consume_broadcast_enable: bool,
    /// Orderly (config).
    pub consume_orderly: bool,
    /// Retry queues (config).
    pub retry_queue_nums: i32,
    /// Max retries (config).
    pub retry_max_times: i32,
}

/// Live figures of a group (fetched per page row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStats {
    /// Online members (None if the member list could not be read).
    pub members: Option<u32>,
    /// Consume TPS (None if unknown).
    pub consume_tps: Option<f64>,
    /// Total lag over all topics and queues.
    pub lag: Lag,
    /// Errors met while gathering (brokers that failed).
    pub failures: Vec<BrokerFailure>,
}

/// Online members and subscriptions of a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembers {
    /// Connections.
    pub members: Vec<Member>,
    /// Subscriptions (topic → expression).
    pub subscriptions: Vec<Subscription>,
    /// `CONSUME_PASSIVELY` (push) / `CONSUME_ACTIVELY` (pull).
    pub consume_type: Option<String>,
    /// `CLUSTERING` / `BROADCASTING`.
    pub message_model: Option<String>,
    /// `CONSUME_FROM_LAST_OFFSET`, ...
    pub consume_from_where: Option<String>,
}

/// One online client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// Client id.
    pub client_id: String,
    /// Remote address.
    pub client_addr: String,
    /// Language.
    pub language: String,
    /// Version (as a name when recognizable).
    pub version: String,
}

/// A subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// Topic.
    pub topic: String,
    /// Expression (`*`, `a || b`, or SQL92 such as `a > 5 AND TAGS = 'x'`).
    pub expression: String,
    /// `TAG` or `SQL92`.
    #[serde(default = "tag_type")]
    pub expression_type: String,
}

fn tag_type() -> String {
    "TAG".into()
}

/// Progress of a group on one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueProgress {
    /// Topic.
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Broker (max) offset.
    pub broker_offset: i64,
    /// Committed consumer offset, None when never committed.
    pub consumer_offset: Option<i64>,
    /// Lag.
    pub lag: Lag,
    /// Client the queue is assigned to, when known.
    pub client: Option<String>,
    /// Store time of the last consumed message, ms.
    pub last_timestamp: Option<i64>,
}

/// Group config to create/update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCreate {
    /// Name.
    pub name: String,
    /// Allow broadcast.
    #[serde(default = "yes")]
    pub consume_broadcast_enable: bool,
    /// Orderly.
    #[serde(default)]
    pub consume_orderly: bool,
    /// Retry queues.
    #[serde(default = "one")]
    pub retry_queue_nums: i32,
    /// Max retries.
    #[serde(default = "sixteen")]
    pub retry_max_times: i32,
    /// Target brokers; empty = every master.
    #[serde(default)]
    pub brokers: Vec<String>,
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn sixteen() -> i32 {
    16
}

/// A reset-offset preview row: where each queue is now and where it would go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetRow {
    /// Topic.
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Current consumer offset.
    pub current_offset: Option<i64>,
    /// Offset the reset would set.
    pub target_offset: i64,
    /// Broker max offset.
    pub broker_offset: i64,
}

/// Result of applying a reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetApplied {
    /// Rows set.
    pub rows: Vec<ResetRow>,
    /// How it was applied (`broker-reset` notifies clients; `offset-update` only stores).
    pub method: String,
    /// Per-broker result.
    pub results: Vec<BrokerOpResult>,
}

/// A message in a result list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummary {
    /// Client id (UNIQ_KEY) when present, else the offset id.
    pub msg_id: String,
    /// Broker offset id.
    pub offset_msg_id: String,
    /// Topic.
    pub topic: String,
    /// Tags.
    pub tags: Option<String>,
    /// Keys.
    pub keys: Option<String>,
    /// Broker name (when known).
    pub broker_name: Option<String>,
    /// Queue id.
    pub queue_id: i32,
    /// Queue offset.
    pub queue_offset: i64,
    /// Store time, ms.
    pub store_timestamp: i64,
    /// Body size.
    pub body_size: usize,
    /// Reconsume times.
    pub reconsume_times: i32,
}

/// A message query result (sorted by store time, newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    /// Messages.
    pub messages: Vec<MessageSummary>,
    /// More existed than the cap.
    pub truncated: bool,
    /// The cap applied.
    pub limit: usize,
    /// Brokers that failed.
    pub failures: Vec<BrokerFailure>,
}

/// Whether a group consumed a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ConsumeState {
    /// Consumer offset is past the message.
    Consumed,
    /// Not yet.
    NotConsumed,
    /// Could not tell.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// Consumption of one message by one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupConsumeState {
    /// Group.
    pub group: String,
    /// State.
    #[serde(flatten)]
    pub state: ConsumeState,
}

/// Full message detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetail {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: MessageSummary,
    /// All properties.
    pub properties: BTreeMap<String, String>,
    /// Body as text when it is UTF-8.
    pub body_text: Option<String>,
    /// Body as hex (first 64 KiB).
    pub body_hex: String,
    /// Store host.
    pub store_host: String,
    /// Born host.
    pub born_host: String,
    /// Producer timestamp, ms.
    pub born_timestamp: i64,
    /// Commit-log offset.
    pub commit_log_offset: i64,
    /// Groups subscribed to the topic and whether they consumed it.
    pub consumed_by: Vec<GroupConsumeState>,
}

/// Result of resending one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendResult {
    /// Message id asked for.
    pub msg_id: String,
    /// Success.
    pub ok: bool,
    /// Where it went.
    pub target: Option<String>,
    /// New message id when re-sent as a new message.
    pub new_msg_id: Option<String>,
    /// Error.
    pub error: Option<String>,
}

/// One producer connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerConn {
    /// Broker the connection was seen on.
    pub broker: String,
    /// Client id.
    pub client_id: String,
    /// Remote address.
    pub client_addr: String,
    /// Language.
    pub language: String,
    /// Version.
    pub version: String,
}

/// A sample of running totals for the TPS sampler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsSample {
    /// Broker label (`name@addr`) → (put total, get total).
    pub brokers: BTreeMap<String, (i64, i64)>,
    /// Topic → sum of max offsets (messages ever written).
    pub topics: BTreeMap<String, i64>,
}

/// Groups the brokers and tools own (hidden from the group list unless asked for).
pub fn is_system_group(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "TOOLS_CONSUMER",
        "FILTERSRV_CONSUMER",
        "SELF_TEST_C_GROUP",
        "SELF_TEST_P_GROUP",
        "CID_ONS-HTTP-PROXY",
        "CID_ONSAPI_PERMISSION",
        "CID_ONSAPI_OWNER",
        "CID_ONSAPI_PULL",
        "CID_RMQ_SYS_TRANS",
        "CLIENT_INNER_PRODUCER",
        "DEFAULT_CONSUMER",
        "DEFAULT_PRODUCER",
    ];
    EXACT.contains(&name)
        || name.starts_with("CID_RMQ_SYS_")
        || name.starts_with("rmq_console")
        || name.starts_with("RMQ_CONSOLE")
}
