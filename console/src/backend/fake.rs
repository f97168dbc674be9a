//! In-memory cluster used by the API tests and by `mqconsole --fake-backend` (a fast UI smoke
//! test that needs no broker). It behaves like a small real cluster: messages get queue and
//! commit-log offsets, groups have committed offsets, and brokers can be made to fail.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use async_trait::async_trait;
use bytes::Bytes;
use mq_common::message::{encode_offset_msg_id, property, MessageExt, UniqIdGenerator};
use mq_common::protocol::body::{system_topics, validate_topic};
use mq_common::protocol::now_millis;
use parking_lot::Mutex;

use super::convert::{detail_of, sort_and_cap, summary_of};
use super::*;

struct FakeBroker {
    cluster: String,
    name: String,
    addr: String,
    put_total: i64,
    get_total: i64,
    failing: bool,
    next_phy: i64,
}

struct FakeTopic {
    perm: i32,
    read: i32,
    write: i32,
    order: bool,
    /// (broker name, queue id) → messages (queue offset = index).
    queues: BTreeMap<(String, i32), Vec<MessageExt>>,
}

struct FakeGroup {
    summary: GroupSummary,
    /// (topic, broker, queue) → committed offset.
    offsets: BTreeMap<(String, String, i32), i64>,
    members: Vec<Member>,
    subscriptions: Vec<Subscription>,
    tps: f64,
}

struct State {
    brokers: Vec<FakeBroker>,
    topics: BTreeMap<String, FakeTopic>,
    groups: BTreeMap<String, FakeGroup>,
    producers: Vec<(String, String, ProducerConn)>,
    /// Controller-mode groups (the demo has one, `broker-ctl`, outside the two masters).
    controller_groups: Vec<ControllerGroup>,
    rr: usize,
}

/// An in-memory cluster.
pub struct FakeBackend {
    state: Mutex<State>,
    ids: UniqIdGenerator,
}

/// A 3-replica group in controller mode: replica 1 master, 2 in sync, 3 alive but behind.
fn demo_controller_group() -> ControllerGroup {
    let replica = |id: u64, in_sync: bool, offset: i64| ControllerReplica {
        broker_id: id,
        addr: format!("127.0.0.{}:10911", 20 + id),
        master: id == 1,
        in_sync,
        alive: true,
        max_offset: Some(offset),
    };
    ControllerGroup {
        cluster: "DefaultCluster".into(),
        broker_name: "broker-ctl".into(),
        controller_addr: "127.0.0.1:9878;127.0.0.2:9878;127.0.0.3:9878".into(),
        master_broker_id: Some(1),
        master_addr: Some("127.0.0.21:10911".into()),
        master_epoch: 3,
        sync_state_set_epoch: 5,
        replicas: vec![
            replica(1, true, 1_048_576),
            replica(2, true, 1_048_576),
            replica(3, false, 524_288),
        ],
        error: None,
    }
}

fn failure(b: &FakeBroker) -> BrokerFailure {
    BrokerFailure {
        broker: b.name.clone(),
        addr: b.addr.clone(),
        error: "connect refused (fake failure)".into(),
    }
}

impl FakeBackend {
    /// An empty cluster with two masters `broker-a` and `broker-b` in `DefaultCluster`.
    pub fn empty() -> Self {
        let brokers = ["broker-a", "broker-b"]
            .iter()
            .enumerate()
            .map(|(i, n)| FakeBroker {
                cluster: "DefaultCluster".into(),
                name: n.to_string(),
                addr: format!("127.0.0.1:{}", 10911 + i * 100),
                put_total: 0,
                get_total: 0,
                failing: false,
                next_phy: 0,
            })
            .collect();
        let fb = FakeBackend {
            state: Mutex::new(State {
                brokers,
                topics: BTreeMap::new(),
                groups: BTreeMap::new(),
                producers: Vec::new(),
                controller_groups: Vec::new(),
                rr: 0,
            }),
            ids: UniqIdGenerator::new([127, 0, 0, 1].into()),
        };
        for t in [
            system_topics::TBW102,
            system_topics::SCHEDULE_TOPIC,
            "DefaultCluster",
            "broker-a",
            "broker-b",
        ] {
            fb.add_topic(t, 4);
        }
        fb
    }

    /// A small demo cluster: topics, messages, groups with known and unknown lag, a DLQ.
    pub fn demo() -> Self {
        let fb = Self::empty();
        fb.add_topic("TopicTest", 4);
        fb.add_topic("OrderTopic", 2);
        for i in 0..40 {
            fb.put_message(
                "TopicTest",
                Some("TagA"),
                Some(&format!("order-{i}")),
                format!("hello {i}").as_bytes(),
                None,
            );
        }
        for i in 0..6 {
            fb.put_message(
                "OrderTopic",
                Some("TagB"),
                Some(&format!("o-{i}")),
                format!("ordered {i}").as_bytes(),
                None,
            );
        }
        fb.add_group("GroupA", &["TopicTest"], 2);
        fb.commit_all("GroupA", "TopicTest", 3);
        fb.add_group("GroupB", &["TopicTest", "OrderTopic"], 0);
        fb.add_topic(&system_topics::retry_topic("GroupA"), 1);
        fb.add_topic(&system_topics::dlq_topic("GroupA"), 1);
        for i in 0..3 {
            fb.put_message(
                &system_topics::dlq_topic("GroupA"),
                Some("TagA"),
                Some(&format!("dead-{i}")),
                format!("dead letter {i}").as_bytes(),
                Some("TopicTest"),
            );
        }
        fb.state.lock().controller_groups.push(demo_controller_group());
        fb.state.lock().producers.push((
            "ProducerGroupA".into(),
            "TopicTest".into(),
            ProducerConn {
                broker: "broker-a".into(),
                client_id: "127.0.0.1@4242".into(),
                client_addr: "127.0.0.1:50000".into(),
                language: "JAVA".into(),
                version: "V4_9_7".into(),
            },
        ));
        fb
    }

    /// A cluster with `topics` user topics and `groups` groups (scale tests).
    pub fn scaled(topics: usize, groups: usize) -> Self {
        let fb = Self::empty();
        for i in 0..topics {
            fb.add_topic(&format!("topic-{i:04}"), 4);
        }
        for i in 0..groups {
            let t = format!("topic-{:04}", i % topics.max(1));
            fb.add_group(&format!("group-{i:04}"), &[t.as_str()], 1);
        }
        fb
    }

    /// Make a broker fail (or recover).
    pub fn set_failing(&self, broker: &str, failing: bool) {
        for b in self.state.lock().brokers.iter_mut().filter(|b| b.name == broker) {
            b.failing = failing;
        }
    }

    /// Create a topic with `queues` queues on every broker.
    pub fn add_topic(&self, name: &str, queues: i32) {
        let mut st = self.state.lock();
        let names: Vec<String> = st.brokers.iter().map(|b| b.name.clone()).collect();
        let mut t = FakeTopic {
            perm: 6,
            read: queues,
            write: queues,
            order: false,
            queues: BTreeMap::new(),
        };
        for b in names {
            for q in 0..queues {
                t.queues.insert((b.clone(), q), Vec::new());
            }
        }
        st.topics.insert(name.to_string(), t);
    }

    /// Add a group subscribed to `topics` with `members` online clients.
    pub fn add_group(&self, name: &str, topics: &[&str], members: usize) {
        let mut st = self.state.lock();
        let brokers = st.brokers.iter().map(|b| b.name.clone()).collect();
        st.groups.insert(
            name.to_string(),
            FakeGroup {
                summary: GroupSummary {
                    name: name.into(),
                    system: false,
                    brokers,
                    consume_broadcast_enable: true,
                    consume_orderly: false,
                    retry_queue_nums: 1,
                    retry_max_times: 16,
                },
                offsets: BTreeMap::new(),
                members: (0..members)
                    .map(|i| Member {
                        client_id: format!("127.0.0.1@{}", 1000 + i),
                        client_addr: format!("127.0.0.1:{}", 40000 + i),
                        language: "RUST".into(),
                        version: "V4_9_7".into(),
                    })
                    .collect(),
                subscriptions: topics
                    .iter()
                    .map(|t| Subscription {
                        topic: t.to_string(),
                        expression: "*".into(),
                        expression_type: "TAG".into(),
                    })
                    .collect(),
                tps: if members > 0 { 12.5 } else { 0.0 },
            },
        );
    }

    /// Commit `offset` (capped at the queue size) on every queue of `topic` for `group`.
    pub fn commit_all(&self, group: &str, topic: &str, offset: i64) {
        let mut st = self.state.lock();
        let keys: Vec<(String, i32, i64)> = match st.topics.get(topic) {
            Some(t) => t.queues.iter().map(|((b, q), v)| (b.clone(), *q, v.len() as i64)).collect(),
            None => return,
        };
        if let Some(g) = st.groups.get_mut(group) {
            for (b, q, max) in keys {
                g.offsets.insert((topic.to_string(), b, q), offset.min(max));
            }
        }
    }

    /// Append a message (round-robin over non-failing brokers' queues). `origin` sets
    /// RETRY_TOPIC (what a DLQ message carries).
    pub fn put_message(
        &self,
        topic: &str,
        tags: Option<&str>,
        keys: Option<&str>,
        body: &[u8],
        origin: Option<&str>,
    ) -> Option<MessageExt> {
        let uniq = self.ids.next_id();
        let mut st = self.state.lock();
        let st = &mut *st;
        let alive: BTreeSet<String> =
            st.brokers.iter().filter(|b| !b.failing).map(|b| b.name.clone()).collect();
        let t = st.topics.get_mut(topic)?;
        let keys_list: Vec<(String, i32)> =
            t.queues.keys().filter(|(b, _)| alive.contains(b)).cloned().collect();
        if keys_list.is_empty() {
            return None;
        }
        st.rr += 1;
        let (bname, qid) = keys_list[st.rr % keys_list.len()].clone();
        let broker = st.brokers.iter_mut().find(|b| b.name == bname)?;
        let store_host: SocketAddr = broker.addr.parse().ok()?;
        let mut props = BTreeMap::new();
        props.insert(property::UNIQ_KEY.to_string(), uniq);
        if let Some(tg) = tags {
            props.insert(property::TAGS.to_string(), tg.to_string());
        }
        if let Some(k) = keys {
            props.insert(property::KEYS.to_string(), k.to_string());
        }
        if let Some(o) = origin {
            props.insert(property::RETRY_TOPIC.to_string(), o.to_string());
        }
        let q = t.queues.get_mut(&(bname.clone(), qid))?;
        let phy = broker.next_phy;
        broker.next_phy += 200 + body.len() as i64;
        broker.put_total += 1;
        let now = now_millis();
        let m = MessageExt {
            store_size: 200,
            magic: mq_common::message::MESSAGE_MAGIC_CODE_V1,
            body_crc: 0,
            queue_id: qid,
            flag: 0,
            queue_offset: q.len() as i64,
            commit_log_offset: phy,
            sys_flag: 0,
            born_timestamp: now,
            born_host: "127.0.0.1:50000".parse().ok()?,
            store_timestamp: now,
            store_host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::copy_from_slice(body),
            topic: topic.to_string(),
            properties: props,
            offset_msg_id: encode_offset_msg_id(store_host, phy),
        };
        q.push(m.clone());
        Some(m)
    }

    fn find(&self, topic: &str, id: &str) -> BResult<(MessageExt, String)> {
        let st = self.state.lock();
        let t = st
            .topics
            .get(topic)
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic} not found")))?;
        for ((b, _), msgs) in &t.queues {
            if let Some(m) = msgs.iter().find(|m| m.msg_id() == id || m.offset_msg_id == id) {
                if let Some(fb) = st.brokers.iter().find(|x| &x.name == b && x.failing) {
                    return Err(BackendError::Broker {
                        broker: fb.name.clone(),
                        addr: fb.addr.clone(),
                        message: "connect refused (fake failure)".into(),
                    });
                }
                return Ok((m.clone(), b.clone()));
            }
        }
        Err(BackendError::NotFound(format!("message {id} not found in topic {topic}")))
    }

    fn group_lags(
        st: &State,
        g: &FakeGroup,
        only_topic: Option<&str>,
    ) -> (Vec<QueueProgress>, Vec<BrokerFailure>) {
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        for b in st.brokers.iter().filter(|b| b.failing) {
            failures.push(failure(b));
        }
        for sub in &g.subscriptions {
            if only_topic.is_some_and(|t| t != sub.topic) {
                continue;
            }
            let Some(t) = st.topics.get(&sub.topic) else { continue };
            let mut clients = g.members.iter().map(|m| m.client_id.clone()).collect::<Vec<_>>();
            clients.sort();
            for (i, ((b, q), msgs)) in t.queues.iter().enumerate() {
                if st.brokers.iter().any(|x| &x.name == b && x.failing) {
                    continue;
                }
                let max = msgs.len() as i64;
                let committed = g.offsets.get(&(sub.topic.clone(), b.clone(), *q)).copied();
                let last = committed
                    .and_then(|c| msgs.get((c - 1).max(0) as usize))
                    .map(|m| m.store_timestamp);
                rows.push(QueueProgress {
                    topic: sub.topic.clone(),
                    broker_name: b.clone(),
                    queue_id: *q,
                    broker_offset: max,
                    consumer_offset: committed,
                    lag: Lag::of_queue(max, committed),
                    client: if clients.is_empty() {
                        None
                    } else {
                        Some(clients[i % clients.len()].clone())
                    },
                    last_timestamp: last,
                });
            }
        }
        (rows, failures)
    }

    fn targets(st: &State, wanted: &[String]) -> Vec<(String, String, bool)> {
        st.brokers
            .iter()
            .filter(|b| wanted.is_empty() || wanted.contains(&b.name))
            .map(|b| (b.name.clone(), b.addr.clone(), b.failing))
            .collect()
    }
}

fn op(name: String, addr: String, failing: bool) -> BrokerOpResult {
    BrokerOpResult {
        broker: name,
        addr,
        ok: !failing,
        error: failing.then(|| "connect refused (fake failure)".to_string()),
    }
}

#[async_trait]
impl Backend for FakeBackend {
    async fn cluster_overview(&self) -> BResult<Partial<ClusterOverview>> {
        let st = self.state.lock();
        let mut failures = Vec::new();
        let brokers = st
            .brokers
            .iter()
            .map(|b| {
                if b.failing {
                    failures.push(failure(b));
                }
                BrokerInfo {
                    cluster: b.cluster.clone(),
                    broker_name: b.name.clone(),
                    broker_id: 0,
                    addr: b.addr.clone(),
                    role: "MASTER".into(),
                    version: (!b.failing).then(|| "V4_9_7 (rmq fake)".into()),
                    put_today: (!b.failing).then_some(b.put_total),
                    get_today: (!b.failing).then_some(b.get_total),
                    put_total: (!b.failing).then_some(b.put_total),
                    get_total: (!b.failing).then_some(b.get_total),
                    disk_ratio: (!b.failing).then_some(0.42),
                    boot_timestamp: Some(now_millis() - 3_600_000),
                    max_offset: None,
                    behind_bytes: None,
                    error: b.failing.then(|| "connect refused (fake failure)".into()),
                }
            })
            .collect();
        Ok(Partial {
            items: ClusterOverview {
                namesrv: vec!["fake:9876".into()],
                brokers,
                controller_groups: st.controller_groups.clone(),
            },
            failures,
        })
    }

    async fn broker_runtime(&self, addr: &str) -> BResult<BTreeMap<String, String>> {
        let st = self.state.lock();
        let b = st
            .brokers
            .iter()
            .find(|b| b.addr == addr)
            .ok_or_else(|| BackendError::NotFound(format!("no broker at {addr}")))?;
        if b.failing {
            return Err(BackendError::Broker {
                broker: b.name.clone(),
                addr: b.addr.clone(),
                message: "connect refused (fake failure)".into(),
            });
        }
        Ok(BTreeMap::from([
            ("brokerVersionDesc".to_string(), "V4_9_7".to_string()),
            ("msgPutTotalTodayNow".to_string(), b.put_total.to_string()),
            ("msgGetTotalTodayNow".to_string(), b.get_total.to_string()),
        ]))
    }

    async fn cluster_names(&self) -> BResult<Vec<String>> {
        let st = self.state.lock();
        let mut v: Vec<String> =
            st.brokers.iter().flat_map(|b| [b.cluster.clone(), b.name.clone()]).collect();
        v.dedup();
        Ok(v)
    }

    async fn list_topics(&self) -> BResult<Partial<Vec<TopicSummary>>> {
        let names = self.cluster_names().await?;
        let st = self.state.lock();
        let failing: Vec<&FakeBroker> = st.brokers.iter().filter(|b| b.failing).collect();
        if failing.len() == st.brokers.len() {
            return Err(BackendError::AllFailed(failing.iter().map(|b| failure(b)).collect()));
        }
        let items = st
            .topics
            .iter()
            .map(|(name, t)| {
                let brokers: Vec<String> = t
                    .queues
                    .keys()
                    .map(|(b, _)| b.clone())
                    .filter(|b| !failing.iter().any(|f| &f.name == b))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                TopicSummary {
                    name: name.clone(),
                    kind: TopicKind::classify(name, &names),
                    read_queues: t.read * brokers.len() as i32,
                    write_queues: t.write * brokers.len() as i32,
                    brokers,
                    perm: t.perm,
                    order: t.order,
                }
            })
            .collect();
        Ok(Partial { items, failures: failing.iter().map(|b| failure(b)).collect() })
    }

    async fn topic_route(&self, topic: &str) -> BResult<TopicRoute> {
        let st = self.state.lock();
        let t = st
            .topics
            .get(topic)
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic} not found")))?;
        let names: BTreeSet<&String> = t.queues.keys().map(|(b, _)| b).collect();
        let brokers = st
            .brokers
            .iter()
            .filter(|b| names.contains(&b.name))
            .map(|b| RouteBroker {
                broker_name: b.name.clone(),
                cluster: b.cluster.clone(),
                addrs: BTreeMap::from([("0".to_string(), b.addr.clone())]),
            })
            .collect();
        let queues = names
            .iter()
            .map(|b| RouteQueues {
                broker_name: b.to_string(),
                read_queues: t.read,
                write_queues: t.write,
                perm: t.perm,
            })
            .collect();
        Ok(TopicRoute { brokers, queues })
    }

    async fn topic_status(&self, topic: &str) -> BResult<Partial<Vec<QueueStatus>>> {
        let st = self.state.lock();
        let t = st
            .topics
            .get(topic)
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic} not found")))?;
        let mut failures = Vec::new();
        for b in st.brokers.iter().filter(|b| b.failing) {
            failures.push(failure(b));
        }
        let items = t
            .queues
            .iter()
            .filter(|((b, _), _)| !failures.iter().any(|f| &f.broker == b))
            .map(|((b, q), msgs)| QueueStatus {
                broker_name: b.clone(),
                queue_id: *q,
                min_offset: 0,
                max_offset: msgs.len() as i64,
                last_update_timestamp: msgs.last().map(|m| m.store_timestamp),
            })
            .collect();
        Ok(Partial { items, failures })
    }

    async fn create_topic(&self, req: &TopicCreate) -> BResult<Vec<BrokerOpResult>> {
        validate_topic(&req.name).map_err(BackendError::Invalid)?;
        let mut st = self.state.lock();
        let targets = Self::targets(&st, &req.brokers);
        if targets.is_empty() {
            return Err(BackendError::Invalid("no target broker".into()));
        }
        let t = st.topics.entry(req.name.clone()).or_insert_with(|| FakeTopic {
            perm: 6,
            read: 0,
            write: 0,
            order: false,
            queues: BTreeMap::new(),
        });
        t.perm = req.perm;
        t.read = req.read_queues;
        t.write = req.write_queues;
        t.order = req.order;
        for (b, _, failing) in &targets {
            if *failing {
                continue;
            }
            for q in 0..req.read_queues.max(req.write_queues) {
                t.queues.entry((b.clone(), q)).or_default();
            }
        }
        Ok(targets.into_iter().map(|(n, a, f)| op(n, a, f)).collect())
    }

    async fn delete_topic(&self, topic: &str) -> BResult<Vec<BrokerOpResult>> {
        let mut st = self.state.lock();
        if st.topics.remove(topic).is_none() {
            return Err(BackendError::NotFound(format!("topic {topic} not found")));
        }
        Ok(Self::targets(&st, &[]).into_iter().map(|(n, a, f)| op(n, a, f)).collect())
    }

    async fn send_message(&self, req: &SendRequest) -> BResult<SendResult> {
        if !self.state.lock().topics.contains_key(&req.topic) {
            return Err(BackendError::NotFound(format!("topic {} not found", req.topic)));
        }
        let m = self
            .put_message(
                &req.topic,
                req.tags.as_deref(),
                req.keys.as_deref(),
                req.body.as_bytes(),
                None,
            )
            .ok_or_else(|| {
                BackendError::AllFailed(self.state.lock().brokers.iter().map(failure).collect())
            })?;
        let broker = self
            .state
            .lock()
            .brokers
            .iter()
            .find(|b| b.addr == m.store_host.to_string())
            .map(|b| b.name.clone())
            .unwrap_or_default();
        Ok(SendResult {
            status: "SEND_OK".into(),
            msg_id: m.msg_id().to_string(),
            offset_msg_id: Some(m.offset_msg_id.clone()),
            broker_name: broker,
            queue_id: m.queue_id,
            queue_offset: m.queue_offset,
        })
    }

    async fn topic_consumers(&self, topic: &str) -> BResult<Partial<Vec<(String, Lag)>>> {
        let st = self.state.lock();
        if !st.topics.contains_key(topic) {
            return Err(BackendError::NotFound(format!("topic {topic} not found")));
        }
        let mut failures = Vec::new();
        let mut items = Vec::new();
        for (name, g) in &st.groups {
            if !g.subscriptions.iter().any(|s| s.topic == topic) {
                continue;
            }
            let (rows, f) = Self::group_lags(&st, g, Some(topic));
            failures = f;
            items.push((name.clone(), Lag::sum(rows.iter().map(|r| &r.lag))));
        }
        Ok(Partial { items, failures })
    }

    async fn list_groups(&self) -> BResult<Partial<Vec<GroupSummary>>> {
        let st = self.state.lock();
        let failures: Vec<BrokerFailure> =
            st.brokers.iter().filter(|b| b.failing).map(failure).collect();
        if failures.len() == st.brokers.len() {
            return Err(BackendError::AllFailed(failures));
        }
        Ok(Partial { items: st.groups.values().map(|g| g.summary.clone()).collect(), failures })
    }

    async fn group_stats(&self, group: &str) -> BResult<GroupStats> {
        let st = self.state.lock();
        let g = st
            .groups
            .get(group)
            .ok_or_else(|| BackendError::NotFound(format!("group {group} not found")))?;
        let (rows, failures) = Self::group_lags(&st, g, None);
        let mut lag = Lag::sum(rows.iter().map(|r| &r.lag));
        if !failures.is_empty() {
            lag = Lag::unknown(format!("{} broker(s) failed", failures.len()));
        }
        Ok(GroupStats {
            members: Some(g.members.len() as u32),
            consume_tps: Some(g.tps),
            lag,
            failures,
        })
    }

    async fn group_members(&self, group: &str) -> BResult<GroupMembers> {
        let st = self.state.lock();
        let g = st
            .groups
            .get(group)
            .ok_or_else(|| BackendError::NotFound(format!("group {group} not found")))?;
        Ok(GroupMembers {
            members: g.members.clone(),
            subscriptions: g.subscriptions.clone(),
            consume_type: Some("CONSUME_PASSIVELY".into()),
            message_model: Some("CLUSTERING".into()),
            consume_from_where: Some("CONSUME_FROM_LAST_OFFSET".into()),
        })
    }

    async fn group_progress(&self, group: &str) -> BResult<Partial<Vec<QueueProgress>>> {
        let st = self.state.lock();
        let g = st
            .groups
            .get(group)
            .ok_or_else(|| BackendError::NotFound(format!("group {group} not found")))?;
        let (items, failures) = Self::group_lags(&st, g, None);
        Ok(Partial { items, failures })
    }

    async fn reset_preview(
        &self,
        group: &str,
        topic: Option<&str>,
        timestamp: i64,
    ) -> BResult<Vec<ResetRow>> {
        let st = self.state.lock();
        let g = st
            .groups
            .get(group)
            .ok_or_else(|| BackendError::NotFound(format!("group {group} not found")))?;
        let mut rows = Vec::new();
        for sub in &g.subscriptions {
            if topic.is_some_and(|t| t != sub.topic) {
                continue;
            }
            let Some(t) = st.topics.get(&sub.topic) else { continue };
            for ((b, q), msgs) in &t.queues {
                let target =
                    msgs.iter().position(|m| m.store_timestamp >= timestamp).unwrap_or(msgs.len())
                        as i64;
                rows.push(ResetRow {
                    topic: sub.topic.clone(),
                    broker_name: b.clone(),
                    queue_id: *q,
                    current_offset: g.offsets.get(&(sub.topic.clone(), b.clone(), *q)).copied(),
                    target_offset: target,
                    broker_offset: msgs.len() as i64,
                });
            }
        }
        if rows.is_empty() {
            return Err(BackendError::Invalid(format!(
                "group {group} has no queues for {}",
                topic.unwrap_or("any topic")
            )));
        }
        Ok(rows)
    }

    async fn reset_apply(
        &self,
        group: &str,
        topic: Option<&str>,
        timestamp: i64,
    ) -> BResult<ResetApplied> {
        let rows = self.reset_preview(group, topic, timestamp).await?;
        let mut st = self.state.lock();
        let results = Self::targets(&st, &[]).into_iter().map(|(n, a, f)| op(n, a, f)).collect();
        if let Some(g) = st.groups.get_mut(group) {
            for r in &rows {
                g.offsets
                    .insert((r.topic.clone(), r.broker_name.clone(), r.queue_id), r.target_offset);
            }
        }
        Ok(ResetApplied { rows, method: "offset-update".into(), results })
    }

    async fn create_group(&self, req: &GroupCreate) -> BResult<Vec<BrokerOpResult>> {
        if req.name.trim().is_empty() || req.name.len() > 255 {
            return Err(BackendError::Invalid("group name must be 1..255 characters".into()));
        }
        let mut st = self.state.lock();
        let targets = Self::targets(&st, &req.brokers);
        let brokers = targets.iter().map(|t| t.0.clone()).collect();
        let entry = st.groups.entry(req.name.clone()).or_insert_with(|| FakeGroup {
            summary: GroupSummary {
                name: req.name.clone(),
                system: false,
                brokers: Vec::new(),
                consume_broadcast_enable: true,
                consume_orderly: false,
                retry_queue_nums: 1,
                retry_max_times: 16,
            },
            offsets: BTreeMap::new(),
            members: Vec::new(),
            subscriptions: Vec::new(),
            tps: 0.0,
        });
        entry.summary.brokers = brokers;
        entry.summary.consume_broadcast_enable = req.consume_broadcast_enable;
        entry.summary.consume_orderly = req.consume_orderly;
        entry.summary.retry_queue_nums = req.retry_queue_nums;
        entry.summary.retry_max_times = req.retry_max_times;
        Ok(targets.into_iter().map(|(n, a, f)| op(n, a, f)).collect())
    }

    async fn elect_master(&self, req: &ElectRequest) -> BResult<ControllerGroup> {
        let mut st = self.state.lock();
        let g = st
            .controller_groups
            .iter_mut()
            .find(|g| g.cluster == req.cluster && g.broker_name == req.broker_name)
            .ok_or_else(|| {
                BackendError::NotFound(format!(
                    "no broker group {} in controller mode in cluster {}",
                    req.broker_name, req.cluster
                ))
            })?;
        // As the controllers: only a live in-sync replica can be designated.
        match g.replicas.iter().find(|r| r.broker_id == req.broker_id) {
            Some(r) if r.alive && r.in_sync => {}
            _ => {
                return Err(BackendError::Invalid(format!(
                    "the controllers refused to elect broker {} of {}: not a live in-sync replica (code 2012)",
                    req.broker_id, req.broker_name
                )))
            }
        }
        if g.master_broker_id != Some(req.broker_id) {
            g.master_epoch += 1;
            g.sync_state_set_epoch += 1;
            g.master_broker_id = Some(req.broker_id);
            for r in &mut g.replicas {
                r.master = r.broker_id == req.broker_id;
                if r.master {
                    g.master_addr = Some(r.addr.clone());
                }
            }
        }
        Ok(g.clone())
    }

    async fn delete_group(&self, group: &str) -> BResult<Vec<BrokerOpResult>> {
        let mut st = self.state.lock();
        if st.groups.remove(group).is_none() {
            return Err(BackendError::NotFound(format!("group {group} not found")));
        }
        Ok(Self::targets(&st, &[]).into_iter().map(|(n, a, f)| op(n, a, f)).collect())
    }

    async fn messages_by_time(
        &self,
        topic: &str,
        begin: i64,
        end: i64,
        limit: usize,
    ) -> BResult<MessageList> {
        let st = self.state.lock();
        let t = st
            .topics
            .get(topic)
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic} not found")))?;
        let failures: Vec<BrokerFailure> =
            st.brokers.iter().filter(|b| b.failing).map(failure).collect();
        let mut list: Vec<MessageSummary> = t
            .queues
            .iter()
            .filter(|((b, _), _)| !failures.iter().any(|f| &f.broker == b))
            .flat_map(|((b, _), msgs)| {
                msgs.iter()
                    .filter(|m| m.store_timestamp >= begin && m.store_timestamp < end)
                    .map(move |m| summary_of(m, Some(b)))
            })
            .collect();
        let truncated = sort_and_cap(&mut list, limit);
        Ok(MessageList { messages: list, truncated, limit, failures })
    }

    async fn messages_by_key(&self, topic: &str, key: &str, limit: usize) -> BResult<MessageList> {
        let st = self.state.lock();
        let t = st
            .topics
            .get(topic)
            .ok_or_else(|| BackendError::NotFound(format!("topic {topic} not found")))?;
        let failures: Vec<BrokerFailure> =
            st.brokers.iter().filter(|b| b.failing).map(failure).collect();
        let mut list: Vec<MessageSummary> = t
            .queues
            .iter()
            .filter(|((b, _), _)| !failures.iter().any(|f| &f.broker == b))
            .flat_map(|((b, _), msgs)| {
                msgs.iter().filter(|m| m.keys().contains(&key)).map(move |m| summary_of(m, Some(b)))
            })
            .collect();
        let truncated = sort_and_cap(&mut list, limit);
        Ok(MessageList { messages: list, truncated, limit, failures })
    }

    async fn message_detail(&self, topic: &str, msg_id: &str) -> BResult<MessageDetail> {
        let (m, broker) = self.find(topic, msg_id)?;
        let mut d = detail_of(&m, Some(&broker));
        let st = self.state.lock();
        for (name, g) in &st.groups {
            if !g.subscriptions.iter().any(|s| s.topic == topic) {
                continue;
            }
            let state = match g.offsets.get(&(topic.to_string(), broker.clone(), m.queue_id)) {
                Some(c) if *c > m.queue_offset => ConsumeState::Consumed,
                Some(_) => ConsumeState::NotConsumed,
                None => ConsumeState::Unknown { reason: "no committed offset".into() },
            };
            d.consumed_by.push(GroupConsumeState { group: name.clone(), state });
        }
        Ok(d)
    }

    async fn resend_to_group(
        &self,
        topic: &str,
        msg_id: &str,
        group: &str,
    ) -> BResult<ResendResult> {
        let (m, _) = self.find(topic, msg_id)?;
        if !self.state.lock().groups.contains_key(group) {
            return Err(BackendError::NotFound(format!("group {group} not found")));
        }
        let retry = system_topics::retry_topic(group);
        if !self.state.lock().topics.contains_key(&retry) {
            self.add_topic(&retry, 1);
        }
        let n =
            self.put_message(&retry, m.tags(), m.property(property::KEYS), &m.body, Some(topic));
        Ok(ResendResult {
            msg_id: msg_id.into(),
            ok: n.is_some(),
            target: Some(retry),
            new_msg_id: n.map(|x| x.msg_id().to_string()),
            error: None,
        })
    }

    async fn dlq_resend(&self, group: &str, msg_ids: &[String]) -> BResult<Vec<ResendResult>> {
        let dlq = system_topics::dlq_topic(group);
        let mut out = Vec::new();
        for id in msg_ids {
            let r = match self.find(&dlq, id) {
                Ok((m, _)) => {
                    let target = m.property(property::RETRY_TOPIC).unwrap_or("").to_string();
                    if target.is_empty() || !self.state.lock().topics.contains_key(&target) {
                        ResendResult {
                            msg_id: id.clone(),
                            ok: false,
                            target: Some(target.clone()),
                            new_msg_id: None,
                            error: Some(format!("original topic '{target}' not found")),
                        }
                    } else {
                        let n = self.put_message(
                            &target,
                            m.tags(),
                            m.property(property::KEYS),
                            &m.body,
                            None,
                        );
                        ResendResult {
                            msg_id: id.clone(),
                            ok: n.is_some(),
                            target: Some(target),
                            new_msg_id: n.map(|x| x.msg_id().to_string()),
                            error: None,
                        }
                    }
                }
                Err(e) => ResendResult {
                    msg_id: id.clone(),
                    ok: false,
                    target: None,
                    new_msg_id: None,
                    error: Some(e.to_string()),
                },
            };
            out.push(r);
        }
        Ok(out)
    }

    async fn producer_connections(
        &self,
        group: &str,
        topic: &str,
    ) -> BResult<Partial<Vec<ProducerConn>>> {
        let st = self.state.lock();
        Ok(Partial::complete(
            st.producers
                .iter()
                .filter(|(g, t, _)| g == group && t == topic)
                .map(|(_, _, c)| c.clone())
                .collect(),
        ))
    }

    async fn sample_totals(&self, max_topics: usize) -> BResult<TotalsSample> {
        let mut st = self.state.lock();
        let mut s = TotalsSample::default();
        // Simulated background traffic so the fake overview charts move.
        let bump = (now_millis() / 1000 % 7) + 3;
        for b in st.brokers.iter_mut().filter(|b| !b.failing) {
            b.put_total += bump * 10;
            b.get_total += bump * 9;
            s.brokers.insert(format!("{}@{}", b.name, b.addr), (b.put_total, b.get_total));
        }
        let t0 = st.brokers.first().map(|b| b.put_total).unwrap_or(0);
        let names: Vec<String> =
            st.brokers.iter().flat_map(|b| [b.cluster.clone(), b.name.clone()]).collect();
        for (i, (name, t)) in st
            .topics
            .iter()
            .filter(|(n, _)| TopicKind::classify(n, &names) == TopicKind::Normal)
            .take(max_topics)
            .enumerate()
        {
            let real: i64 = t.queues.values().map(|v| v.len() as i64).sum();
            s.topics.insert(name.clone(), real + t0 / (i as i64 + 2));
        }
        Ok(s)
    }
}
