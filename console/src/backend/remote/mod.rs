//! The real cluster, read and written through `mq_client::Admin`.
//!
//! Every request that goes to several brokers is one of `Admin`'s `*_per_broker` calls (or
//! `mq_client::admin::fan_out` around an `Admin` call): every broker is asked concurrently,
//! each with the admin client's RPC timeout, and the brokers that did not answer come back
//! named next to the answers of the others ([`Partial::failures`]). Requests to one broker
//! go through the same `Admin` (its connection pool and timeout): there is no second remoting
//! client here. Cluster info and the topic/group lists are cached for a few seconds (and
//! dropped on writes).

mod cluster;
mod controller;
mod groups;
mod messages;
mod topics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mq_client::admin::{brokers_of, PerBroker};
use mq_client::{Admin, ClientError};
use mq_common::message::UniqIdGenerator;
use mq_common::protocol::body::{ClusterInfo, TopicRouteData};
use mq_common::protocol::RemotingCommand;
use parking_lot::Mutex;

use super::*;

/// Producer group the console sends test messages and resends with.
pub const CONSOLE_PRODUCER_GROUP: &str = "RMQ_CONSOLE_PRODUCER";
/// Group used for browsing pulls (never commits offsets). Same name as Apache's tools use.
pub use mq_client::admin::TOOLS_GROUP;

/// A broker instance the console calls: `Admin`'s broker reference (cluster, name, id, address).
pub type Target = mq_client::admin::BrokerRef;

struct Cached<T> {
    at: Instant,
    value: Arc<T>,
}

/// A value cached for `ttl`.
struct TtlCache<T> {
    slot: Mutex<Option<Cached<T>>>,
}

impl<T> TtlCache<T> {
    fn new() -> Self {
        TtlCache { slot: Mutex::new(None) }
    }
    fn get(&self, ttl: Duration) -> Option<Arc<T>> {
        self.slot.lock().as_ref().filter(|c| c.at.elapsed() < ttl).map(|c| c.value.clone())
    }
    fn put(&self, v: T) -> Arc<T> {
        let a = Arc::new(v);
        *self.slot.lock() = Some(Cached { at: Instant::now(), value: a.clone() });
        a
    }
    fn clear(&self) {
        *self.slot.lock() = None;
    }
}

/// The real cluster.
pub struct RemoteBackend {
    /// The admin API every request goes through; `None` when no nameserver is configured
    /// (every call then fails naming that).
    admin: Option<Admin>,
    namesrv: Vec<String>,
    ttl: Duration,
    cluster: TtlCache<ClusterInfo>,
    topics: TtlCache<Partial<Vec<TopicSummary>>>,
    groups: TtlCache<Partial<Vec<GroupSummary>>>,
    ids: UniqIdGenerator,
    rr: std::sync::atomic::AtomicUsize,
}

impl RemoteBackend {
    /// A backend over these nameservers; `timeout` bounds each nameserver/broker call (connect
    /// and answer), `ttl` the caches.
    pub fn new(namesrv: Vec<String>, timeout: Duration, ttl: Duration) -> Self {
        RemoteBackend {
            admin: Admin::new(namesrv.clone(), timeout).ok(),
            namesrv,
            ttl,
            cluster: TtlCache::new(),
            topics: TtlCache::new(),
            groups: TtlCache::new(),
            ids: UniqIdGenerator::new([127, 0, 0, 1].into()),
            rr: Default::default(),
        }
    }

    /// The admin client, or the error every call gets without a nameserver.
    fn admin(&self) -> BResult<&Admin> {
        self.admin.as_ref().ok_or_else(|| BackendError::Namesrv {
            addr: String::new(),
            message: "no nameserver configured".into(),
        })
    }

    /// A failed nameserver request.
    fn ns_error(&self, e: ClientError) -> BackendError {
        BackendError::Namesrv { addr: self.namesrv.join(";"), message: e.to_string() }
    }

    /// An `Admin` error before any broker was called (the route lookup): an unknown topic is
    /// [`BackendError::NotFound`], anything else a nameserver failure.
    fn route_error(&self, topic: &str, e: ClientError) -> BackendError {
        match e {
            ClientError::NoRoute(_) => BackendError::NotFound(format!(
                "topic {topic} not found (no route on the nameserver)"
            )),
            other => self.ns_error(other),
        }
    }

    /// Call one broker; response codes are left to the caller.
    async fn call_raw(&self, t: &Target, cmd: RemotingCommand) -> BResult<RemotingCommand> {
        let api = self.admin()?.api();
        api.invoke(&t.addr, cmd, api.timeout).await.map_err(|e| broker_error(t, e))
    }

    /// Cluster info (cached).
    async fn cluster_info(&self) -> BResult<Arc<ClusterInfo>> {
        if let Some(c) = self.cluster.get(self.ttl) {
            return Ok(c);
        }
        let ci = self.admin()?.cluster_info().await.map_err(|e| self.ns_error(e))?;
        Ok(self.cluster.put(ci))
    }

    /// Every broker instance (masters and slaves).
    async fn all_brokers(&self) -> BResult<Vec<Target>> {
        Ok(brokers_of(&*self.cluster_info().await?, false))
    }

    /// Masters (id 0), optionally only these broker names.
    async fn masters(&self, only: &[String]) -> BResult<Vec<Target>> {
        Ok(brokers_of(&*self.cluster_info().await?, true)
            .into_iter()
            .filter(|t| only.is_empty() || only.contains(&t.name))
            .collect())
    }

    /// Route of a topic from the nameserver.
    async fn route(&self, topic: &str) -> BResult<TopicRouteData> {
        self.admin()?.topic_route(topic).await.map_err(|e| self.route_error(topic, e))
    }

    /// Master targets hosting a topic (from its route).
    async fn topic_masters(&self, topic: &str) -> BResult<(TopicRouteData, Vec<Target>)> {
        let route = self.route(topic).await?;
        let targets = route
            .broker_datas
            .iter()
            .filter_map(|bd| {
                bd.master_addr().map(|a| Target {
                    cluster: bd.cluster.clone(),
                    name: bd.broker_name.clone(),
                    id: 0,
                    addr: a.to_string(),
                })
            })
            .collect();
        Ok((route, targets))
    }

    /// Broker name of an address (for messages, whose store host is an address).
    async fn name_of_addr(&self, addr: &str) -> Option<Target> {
        self.all_brokers().await.ok()?.into_iter().find(|t| t.addr == addr)
    }

    fn invalidate(&self) {
        self.cluster.clear();
        self.topics.clear();
        self.groups.clear();
    }
}

/// A failed request to one broker, naming it.
fn broker_error(t: &Target, e: impl std::fmt::Display) -> BackendError {
    BackendError::Broker { broker: t.name.clone(), addr: t.addr.clone(), message: e.to_string() }
}

/// The error text without the "broker X failed" prefix (the failure already names it).
fn short_error(e: &BackendError) -> String {
    match e {
        BackendError::Broker { message, .. } | BackendError::Namesrv { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    }
}

/// The console's form of `Admin`'s per-broker failures.
fn failures_of(failed: &[mq_client::admin::BrokerFailure]) -> Vec<BrokerFailure> {
    failed
        .iter()
        .map(|f| BrokerFailure {
            broker: f.broker.name.clone(),
            addr: f.broker.addr.clone(),
            error: f.error.to_string(),
        })
        .collect()
}

/// What a fan-out gives a page: each answering broker with its answer, and the failures.
type Answers<T> = (Vec<(Target, T)>, Vec<BrokerFailure>);

/// The answers and failures of a fan-out; [`BackendError::AllFailed`] when brokers were asked
/// and none answered (an empty page would hide that everything is down).
fn answers<T>(per: PerBroker<T>) -> BResult<Answers<T>> {
    let failures = failures_of(&per.failed);
    if per.all_failed() {
        return Err(BackendError::AllFailed(failures));
    }
    Ok((per.ok, failures))
}

/// One result per broker of a write fan-out.
fn op_results(per: PerBroker<()>) -> Vec<BrokerOpResult> {
    let ok = per.ok.into_iter().map(|(t, ())| BrokerOpResult {
        broker: t.name,
        addr: t.addr,
        ok: true,
        error: None,
    });
    let failed = per.failed.into_iter().map(|f| BrokerOpResult {
        broker: f.broker.name,
        addr: f.broker.addr,
        ok: false,
        error: Some(f.error.to_string()),
    });
    ok.chain(failed).collect()
}

#[async_trait]
impl Backend for RemoteBackend {
    async fn cluster_overview(&self) -> BResult<Partial<ClusterOverview>> {
        self.overview().await
    }
    async fn broker_runtime(
        &self,
        addr: &str,
    ) -> BResult<std::collections::BTreeMap<String, String>> {
        self.runtime_of(addr).await
    }
    async fn cluster_names(&self) -> BResult<Vec<String>> {
        let ci = self.cluster_info().await?;
        Ok(ci
            .cluster_addr_table
            .keys()
            .cloned()
            .chain(ci.broker_addr_table.keys().cloned())
            .collect())
    }
    async fn list_topics(&self) -> BResult<Partial<Vec<TopicSummary>>> {
        self.topics_list().await
    }
    async fn topic_route(&self, topic: &str) -> BResult<TopicRoute> {
        self.topic_route_view(topic).await
    }
    async fn topic_status(&self, topic: &str) -> BResult<Partial<Vec<QueueStatus>>> {
        self.topic_status_all(topic).await
    }
    async fn create_topic(&self, req: &TopicCreate) -> BResult<Vec<BrokerOpResult>> {
        let r = self.topic_create(req).await;
        self.invalidate();
        r
    }
    async fn delete_topic(&self, topic: &str) -> BResult<Vec<BrokerOpResult>> {
        let r = self.topic_delete(topic).await;
        self.invalidate();
        r
    }
    async fn send_message(&self, req: &SendRequest) -> BResult<SendResult> {
        self.send(req).await
    }
    async fn topic_consumers(&self, topic: &str) -> BResult<Partial<Vec<(String, Lag)>>> {
        self.consumers_of(topic).await
    }
    async fn list_groups(&self) -> BResult<Partial<Vec<GroupSummary>>> {
        self.groups_list().await
    }
    async fn group_stats(&self, group: &str) -> BResult<GroupStats> {
        self.stats_of(group).await
    }
    async fn group_members(&self, group: &str) -> BResult<GroupMembers> {
        self.members_of(group).await
    }
    async fn group_progress(&self, group: &str) -> BResult<Partial<Vec<QueueProgress>>> {
        self.progress_of(group, None).await
    }
    async fn reset_preview(
        &self,
        group: &str,
        topic: Option<&str>,
        timestamp: i64,
    ) -> BResult<Vec<ResetRow>> {
        self.preview_reset(group, topic, timestamp).await
    }
    async fn reset_apply(
        &self,
        group: &str,
        topic: Option<&str>,
        timestamp: i64,
    ) -> BResult<ResetApplied> {
        self.apply_reset(group, topic, timestamp).await
    }
    async fn create_group(&self, req: &GroupCreate) -> BResult<Vec<BrokerOpResult>> {
        let r = self.group_create(req).await;
        self.invalidate();
        r
    }
    async fn elect_master(&self, req: &ElectRequest) -> BResult<ControllerGroup> {
        self.elect(req).await
    }
    async fn delete_group(&self, group: &str) -> BResult<Vec<BrokerOpResult>> {
        let r = self.group_delete(group).await;
        self.invalidate();
        r
    }
    async fn messages_by_time(
        &self,
        topic: &str,
        begin: i64,
        end: i64,
        limit: usize,
    ) -> BResult<MessageList> {
        self.by_time(topic, begin, end, limit).await
    }
    async fn messages_by_key(&self, topic: &str, key: &str, limit: usize) -> BResult<MessageList> {
        self.by_key(topic, key, limit).await
    }
    async fn message_detail(&self, topic: &str, msg_id: &str) -> BResult<MessageDetail> {
        self.detail(topic, msg_id).await
    }
    async fn resend_to_group(
        &self,
        topic: &str,
        msg_id: &str,
        group: &str,
    ) -> BResult<ResendResult> {
        self.resend_group(topic, msg_id, group).await
    }
    async fn dlq_resend(&self, group: &str, msg_ids: &[String]) -> BResult<Vec<ResendResult>> {
        self.resend_dlq(group, msg_ids).await
    }
    async fn producer_connections(
        &self,
        group: &str,
        topic: &str,
    ) -> BResult<Partial<Vec<ProducerConn>>> {
        self.producers(group, topic).await
    }
    async fn sample_totals(&self, max_topics: usize) -> BResult<TotalsSample> {
        self.totals(max_topics).await
    }
}
