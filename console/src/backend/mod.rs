//! Everything the console reads from or writes to the cluster, behind one trait.
//!
//! * [`fake::FakeBackend`]: in-memory cluster for API tests and `mqconsole --fake-backend`.
//! * [`remote::RemoteBackend`]: the real cluster, through `mq_client::Admin`.
//!
//! Methods that fan out to several brokers return [`Partial`] so one failing broker never
//! hides the others; methods that need one specific broker fail with
//! [`BackendError::Broker`], which names it (the API maps it to HTTP 502).

mod convert;
pub mod fake;
pub mod remote;
mod types;

pub use types::*;

use async_trait::async_trait;

/// Errors of backend calls.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// A broker call failed (connect, timeout, error response).
    #[error("broker {broker} ({addr}) failed: {message}")]
    Broker {
        /// Broker name.
        broker: String,
        /// Address.
        addr: String,
        /// What happened.
        message: String,
    },
    /// A nameserver call failed.
    #[error("nameserver {addr} failed: {message}")]
    Namesrv {
        /// Address(es).
        addr: String,
        /// What happened.
        message: String,
    },
    /// Every broker asked failed.
    #[error("all brokers failed: {}", .0.iter().map(|f| format!("{} ({}): {}", f.broker, f.addr, f.error)).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<BrokerFailure>),
    /// Not found (topic, group, message).
    #[error("{0}")]
    NotFound(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
}

/// Result of backend calls.
pub type BResult<T> = Result<T, BackendError>;

/// The cluster as the console sees it. All methods are bounded in time by the implementation.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Clusters and brokers with runtime figures.
    async fn cluster_overview(&self) -> BResult<Partial<ClusterOverview>>;
    /// Raw runtime table of one broker (GET_BROKER_RUNTIME_INFO).
    async fn broker_runtime(
        &self,
        addr: &str,
    ) -> BResult<std::collections::BTreeMap<String, String>>;
    /// Names of clusters and brokers (for topic classification and forms).
    async fn cluster_names(&self) -> BResult<Vec<String>>;

    /// Every topic with queue counts, merged over brokers.
    async fn list_topics(&self) -> BResult<Partial<Vec<TopicSummary>>>;
    /// Route of a topic.
    async fn topic_route(&self, topic: &str) -> BResult<TopicRoute>;
    /// Per-queue status of a topic.
    async fn topic_status(&self, topic: &str) -> BResult<Partial<Vec<QueueStatus>>>;
    /// Create or update a topic on its target brokers.
    async fn create_topic(&self, req: &TopicCreate) -> BResult<Vec<BrokerOpResult>>;
    /// Delete a topic from brokers and nameservers.
    async fn delete_topic(&self, topic: &str) -> BResult<Vec<BrokerOpResult>>;
    /// Send a message.
    async fn send_message(&self, req: &SendRequest) -> BResult<SendResult>;
    /// Groups consuming a topic, each with its lag on that topic.
    async fn topic_consumers(&self, topic: &str) -> BResult<Partial<Vec<(String, Lag)>>>;

    /// Every consumer group (config level: cheap).
    async fn list_groups(&self) -> BResult<Partial<Vec<GroupSummary>>>;
    /// Live figures of one group (members, TPS, lag).
    async fn group_stats(&self, group: &str) -> BResult<GroupStats>;
    /// Online members of a group.
    async fn group_members(&self, group: &str) -> BResult<GroupMembers>;
    /// Per-queue progress of a group.
    async fn group_progress(&self, group: &str) -> BResult<Partial<Vec<QueueProgress>>>;
    /// Offsets a reset to `timestamp` would set (topic None = every subscribed topic).
    async fn reset_preview(
        &self,
        group: &str,
        topic: Option<&str>,
        timestamp: i64,
    ) -> BResult<Vec<ResetRow>>;
    /// Apply a reset to `timestamp`.
    async fn reset_apply(
        &self,
        group: &str,
        topic: Option<&str>,
        timestamp: i64,
    ) -> BResult<ResetApplied>;
    /// Create or update a group.
    async fn create_group(&self, req: &GroupCreate) -> BResult<Vec<BrokerOpResult>>;
    /// Delete a group from every broker.
    async fn delete_group(&self, group: &str) -> BResult<Vec<BrokerOpResult>>;

    /// Messages of a topic stored in `[begin, end)` ms, newest first, at most `limit`.
    async fn messages_by_time(
        &self,
        topic: &str,
        begin: i64,
        end: i64,
        limit: usize,
    ) -> BResult<MessageList>;
    /// Messages of a topic with a key.
    async fn messages_by_key(&self, topic: &str, key: &str, limit: usize) -> BResult<MessageList>;
    /// One message by id (client UNIQ_KEY or broker offset id).
    async fn message_detail(&self, topic: &str, msg_id: &str) -> BResult<MessageDetail>;
    /// Re-deliver a message to one group (through the group's retry topic).
    async fn resend_to_group(
        &self,
        topic: &str,
        msg_id: &str,
        group: &str,
    ) -> BResult<ResendResult>;
    /// Re-send DLQ messages of a group to their original topic, one result per message.
    async fn dlq_resend(&self, group: &str, msg_ids: &[String]) -> BResult<Vec<ResendResult>>;

    /// Producer connections of a producer group (on the brokers hosting `topic`).
    async fn producer_connections(
        &self,
        group: &str,
        topic: &str,
    ) -> BResult<Partial<Vec<ProducerConn>>>;

    /// Make a replica of a controller-mode group its master (a designated election at the
    /// group's controllers); returns the group as its controllers then describe it. Refused
    /// (`Invalid`) when the controllers refuse, e.g. the replica is not a live in-sync member.
    async fn elect_master(&self, req: &ElectRequest) -> BResult<ControllerGroup>;

    /// Running totals for the TPS sampler (brokers and up to `max_topics` user topics).
    async fn sample_totals(&self, max_topics: usize) -> BResult<TotalsSample>;
}
