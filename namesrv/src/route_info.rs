//! The route tables (spec §5.1) and every operation on them.
//!
//! One `parking_lot::RwLock` guards all five tables: registration, unregistration and eviction
//! each touch several of them (cluster set, broker data, topic queue data, live table) and a
//! route lookup must never see a broker half-registered or half-removed. Operations are short
//! and never await while holding the lock. Liveness uses a monotonic clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use mq_common::protocol::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfigSerializeWrapper, TopicList,
    TopicRouteData, PERM_READ, PERM_WRITE,
};
use mq_common::remoting::Channel;
use parking_lot::RwLock;

/// Broker id of a master.
pub const MASTER_ID: i64 = 0;
/// `topicSysFlag` bit: unit topic.
pub const FLAG_UNIT: i32 = 0x1;
/// `topicSysFlag` bit: has unit subscriptions.
pub const FLAG_UNIT_SUB: i32 = 0x2;

/// A broker address within a cluster: the live table's key (5.x `BrokerAddrInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrokerAddrKey {
    /// Cluster name.
    pub cluster: String,
    /// `ip:port`.
    pub addr: String,
}

/// Liveness of one registered broker address.
#[derive(Debug, Clone)]
pub struct BrokerLiveInfo {
    /// Broker name the address registered under (to unregister on expiry).
    pub broker_name: String,
    /// When the broker last registered or sent a heartbeat.
    pub last_update: Instant,
    /// How long it may stay silent.
    pub timeout: Duration,
    /// Topic config version the broker last registered with.
    pub data_version: DataVersion,
    /// The connection the broker registered on (closing it unregisters the broker).
    pub channel: Option<Channel>,
    /// HA address (`brokerIP2:haListenPort`), handed to slaves.
    pub ha_server_addr: String,
}

/// Everything a REGISTER_BROKER carries, decoded.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Cluster name.
    pub cluster: String,
    /// `ip:port`.
    pub broker_addr: String,
    /// Broker name.
    pub broker_name: String,
    /// Broker id (0 = master).
    pub broker_id: i64,
    /// HA address.
    pub ha_server_addr: String,
    /// Liveness timeout for this broker.
    pub timeout: Duration,
    /// The broker's topics and data version.
    pub topics: TopicConfigSerializeWrapper,
    /// Legacy filter servers.
    pub filter_server_list: Vec<String>,
    /// The registering connection, if any.
    pub channel: Option<Channel>,
    /// 5.x `deleteTopicWithBrokerRegistration`: when the master's data version changed, its
    /// topics missing from `topics` lose this broker's queue data.
    pub delete_missing_topics: bool,
    /// 5.x `enableActingMaster` from the register header; shown in routes (`BrokerData`).
    pub enable_acting_master: bool,
}

/// What a registration tells the broker back (slaves learn their master).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterResult {
    /// The live master's address (slaves only).
    pub master_addr: Option<String>,
    /// The live master's HA address (slaves only).
    pub ha_server_addr: Option<String>,
}

/// One address that was removed (by unregistration, eviction or a closed connection).
#[derive(Debug, Clone)]
pub struct Removed {
    /// Cluster and address.
    pub key: BrokerAddrKey,
    /// Broker name it belonged to.
    pub broker_name: String,
    /// Whether the broker name disappeared with it (and so its topic routes).
    pub broker_name_removed: bool,
    /// Its registration connection, to be closed.
    pub channel: Option<Channel>,
}

#[derive(Default)]
struct Tables {
    /// topic → broker name → queue data.
    topic_queue: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// broker name → broker data.
    broker_addr: BTreeMap<String, BrokerData>,
    /// cluster → broker names.
    cluster_addr: BTreeMap<String, BTreeSet<String>>,
    /// (cluster, addr) → liveness.
    live: HashMap<BrokerAddrKey, BrokerLiveInfo>,
    /// (cluster, addr) → filter servers (legacy).
    filter_server: HashMap<BrokerAddrKey, Vec<String>>,
}

/// Java's `DataVersion.equals`: counter, timestamp and (5.x) state version.
fn same_version(a: &DataVersion, b: &DataVersion) -> bool {
    a.counter == b.counter
        && a.timestamp == b.timestamp
        && a.state_version.unwrap_or(0) == b.state_version.unwrap_or(0)
}

/// A master's registration is the full list of its topics: drop its queue data from topics it
/// no longer has.
fn drop_topics_missing_from(
    t: &mut Tables,
    broker_name: &str,
    present: &TopicConfigSerializeWrapper,
) {
    t.topic_queue.retain(|topic, queues| {
        if !present.topic_config_table.contains_key(topic) && queues.remove(broker_name).is_some() {
            tracing::info!(%topic, broker = %broker_name, "topic dropped: missing from the broker's registration");
        }
        !queues.is_empty()
    });
}

/// The name server's routing state.
#[derive(Default)]
pub struct RouteInfo {
    tables: RwLock<Tables>,
}

impl RouteInfo {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// REGISTER_BROKER (spec §5.2 steps 2–6).
    pub fn register_broker(&self, reg: Registration) -> RegisterResult {
        let mut t = self.tables.write();
        let key = BrokerAddrKey { cluster: reg.cluster.clone(), addr: reg.broker_addr.clone() };
        t.cluster_addr.entry(reg.cluster.clone()).or_default().insert(reg.broker_name.clone());

        let mut register_first = !t.broker_addr.contains_key(&reg.broker_name);
        let broker = t.broker_addr.entry(reg.broker_name.clone()).or_insert_with(|| BrokerData {
            broker_name: reg.broker_name.clone(),
            cluster: reg.cluster.clone(),
            ..Default::default()
        });
        broker.cluster = reg.cluster.clone();
        broker.enable_acting_master = reg.enable_acting_master;
        let id = reg.broker_id.to_string();

        // A different address holds this id: if it is alive with a newer state version, this
        // registration is stale (5.x controller mode) and is dropped silently.
        if let Some(old_addr) = broker.broker_addrs.get(&id).cloned() {
            if old_addr != reg.broker_addr {
                let old_key = BrokerAddrKey { cluster: reg.cluster.clone(), addr: old_addr };
                let new_state = reg.topics.data_version.state_version.unwrap_or(0);
                if let Some(old) = t.live.get(&old_key) {
                    if old.data_version.state_version.unwrap_or(0) > new_state {
                        tracing::warn!(broker = %reg.broker_addr, "registration with an older state version than the live broker ignored");
                        t.live.remove(&key);
                        return RegisterResult::default();
                    }
                }
            }
        }
        let broker = t.broker_addr.get_mut(&reg.broker_name).expect("inserted above");
        // One address has one id: a slave promoted to master must lose its old slave entry.
        broker.broker_addrs.retain(|k, v| !(v == &reg.broker_addr && k != &id));
        let old = broker.broker_addrs.insert(id, reg.broker_addr.clone());
        register_first |= old.is_none();

        if reg.broker_id == MASTER_ID {
            let changed = !t
                .live
                .get(&key)
                .is_some_and(|l| same_version(&l.data_version, &reg.topics.data_version));
            if changed || register_first {
                for tc in reg.topics.topic_config_table.values() {
                    let qd = QueueData {
                        broker_name: reg.broker_name.clone(),
                        read_queue_nums: tc.read_queue_nums,
                        write_queue_nums: tc.write_queue_nums,
                        perm: tc.perm,
                        topic_sys_flag: tc.topic_sys_flag,
                    };
                    let topic = t.topic_queue.entry(tc.topic_name.clone()).or_default();
                    match topic.insert(reg.broker_name.clone(), qd.clone()) {
                        None => {
                            tracing::info!(topic = %tc.topic_name, broker = %reg.broker_name, "new topic route")
                        }
                        Some(old) if old != qd => {
                            tracing::info!(topic = %tc.topic_name, broker = %reg.broker_name, ?qd, "topic route changed")
                        }
                        Some(_) => {}
                    }
                }
                if changed && reg.delete_missing_topics {
                    drop_topics_missing_from(&mut t, &reg.broker_name, &reg.topics);
                }
            }
        }

        let prev = t.live.insert(
            key.clone(),
            BrokerLiveInfo {
                broker_name: reg.broker_name.clone(),
                last_update: Instant::now(),
                timeout: reg.timeout,
                data_version: reg.topics.data_version.clone(),
                channel: reg.channel.clone(),
                ha_server_addr: reg.ha_server_addr.clone(),
            },
        );
        if prev.is_none() {
            tracing::info!(cluster = %reg.cluster, broker = %reg.broker_name, addr = %reg.broker_addr, id = reg.broker_id, "new broker registered");
        }
        if reg.filter_server_list.is_empty() {
            t.filter_server.remove(&key);
        } else {
            t.filter_server.insert(key, reg.filter_server_list.clone());
        }

        let mut result = RegisterResult::default();
        if reg.broker_id != MASTER_ID {
            if let Some(master) = t
                .broker_addr
                .get(&reg.broker_name)
                .and_then(|b| b.master_addr())
                .map(str::to_string)
            {
                let mkey = BrokerAddrKey { cluster: reg.cluster.clone(), addr: master.clone() };
                if let Some(ml) = t.live.get(&mkey) {
                    result.ha_server_addr = Some(ml.ha_server_addr.clone());
                    result.master_addr = Some(master);
                }
            }
        }
        result
    }

    /// UNREGISTER_BROKER / eviction / closed connection (spec §5.3): remove `addr` of
    /// `broker_name` in `cluster`; the broker name (and its queue data in every topic) goes
    /// only when it has no address left.
    pub fn unregister_broker(&self, cluster: &str, addr: &str, broker_name: &str) -> Removed {
        let mut t = self.tables.write();
        Self::unregister_locked(&mut t, cluster, addr, broker_name)
    }

    fn unregister_locked(t: &mut Tables, cluster: &str, addr: &str, broker_name: &str) -> Removed {
        let key = BrokerAddrKey { cluster: cluster.to_string(), addr: addr.to_string() };
        let live = t.live.remove(&key);
        t.filter_server.remove(&key);
        let mut name_removed = false;
        if let Some(b) = t.broker_addr.get_mut(broker_name) {
            // By value, not by id: the id may already belong to a newer address.
            b.broker_addrs.retain(|_, v| v != addr);
            if b.broker_addrs.is_empty() {
                t.broker_addr.remove(broker_name);
                name_removed = true;
            }
        }
        if name_removed {
            if let Some(names) = t.cluster_addr.get_mut(cluster) {
                names.remove(broker_name);
                if names.is_empty() {
                    t.cluster_addr.remove(cluster);
                }
            }
            t.topic_queue.retain(|topic, queues| {
                if queues.remove(broker_name).is_some() {
                    tracing::info!(%topic, broker = %broker_name, "topic route removed with its broker");
                }
                !queues.is_empty()
            });
        }
        tracing::info!(%cluster, %addr, broker = %broker_name, broker_name_removed = name_removed, "broker unregistered");
        Removed {
            key,
            broker_name: broker_name.to_string(),
            broker_name_removed: name_removed,
            channel: live.and_then(|l| l.channel),
        }
    }

    /// Evict every broker silent for longer than its timeout (spec §5.3). Returns what was
    /// removed; the caller closes the channels.
    pub fn scan_not_active(&self, now: Instant) -> Vec<Removed> {
        let mut t = self.tables.write();
        let expired: Vec<(BrokerAddrKey, String)> = t
            .live
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_update) > l.timeout)
            .map(|(k, l)| (k.clone(), l.broker_name.clone()))
            .collect();
        expired
            .into_iter()
            .map(|(k, name)| {
                tracing::warn!(cluster = %k.cluster, addr = %k.addr, broker = %name, "broker expired: no registration or heartbeat within its timeout");
                Self::unregister_locked(&mut t, &k.cluster, &k.addr, &name)
            })
            .collect()
    }

    /// A connection closed: unregister every broker address that registered on it (and whose
    /// latest registration was on it; a broker that re-registered on a newer connection stays).
    pub fn on_channel_closed(&self, channel: &Channel) -> Vec<Removed> {
        let mut t = self.tables.write();
        let gone: Vec<(BrokerAddrKey, String)> = t
            .live
            .iter()
            .filter(|(_, l)| l.channel.as_ref().is_some_and(|c| c.id() == channel.id()))
            .map(|(k, l)| (k.clone(), l.broker_name.clone()))
            .collect();
        gone.into_iter()
            .map(|(k, name)| {
                tracing::info!(cluster = %k.cluster, addr = %k.addr, broker = %name, "registration connection closed");
                Self::unregister_locked(&mut t, &k.cluster, &k.addr, &name)
            })
            .collect()
    }

    /// Refresh a broker's liveness (BROKER_HEARTBEAT, unchanged QUERY_DATA_VERSION). Returns
    /// whether the broker is known.
    pub fn touch(&self, cluster: &str, addr: &str) -> bool {
        let mut t = self.tables.write();
        let key = BrokerAddrKey { cluster: cluster.to_string(), addr: addr.to_string() };
        match t.live.get_mut(&key) {
            Some(l) => {
                l.last_update = Instant::now();
                true
            }
            None => false,
        }
    }

    /// The data version a broker last registered with.
    pub fn data_version(&self, cluster: &str, addr: &str) -> Option<DataVersion> {
        let t = self.tables.read();
        t.live
            .get(&BrokerAddrKey { cluster: cluster.to_string(), addr: addr.to_string() })
            .map(|l| l.data_version.clone())
    }

    /// Whether `version` differs from what the broker last registered (true if unknown).
    pub fn is_version_changed(&self, cluster: &str, addr: &str, version: &DataVersion) -> bool {
        !self.data_version(cluster, addr).is_some_and(|v| same_version(&v, version))
    }

    /// GET_ROUTEINFO_BY_TOPIC: queue data and broker data of a topic; `None` unless both exist.
    pub fn topic_route(&self, topic: &str) -> Option<TopicRouteData> {
        let t = self.tables.read();
        let queues = t.topic_queue.get(topic)?;
        let broker_datas: Vec<BrokerData> =
            queues.keys().filter_map(|name| t.broker_addr.get(name).cloned()).collect();
        if queues.is_empty() || broker_datas.is_empty() {
            return None;
        }
        let mut filter_server_table = BTreeMap::new();
        for b in &broker_datas {
            for addr in b.broker_addrs.values() {
                let k = BrokerAddrKey { cluster: b.cluster.clone(), addr: addr.clone() };
                if let Some(list) = t.filter_server.get(&k) {
                    filter_server_table.insert(addr.clone(), list.clone());
                }
            }
        }
        Some(TopicRouteData {
            broker_datas,
            filter_server_table,
            queue_datas: queues.values().cloned().collect(),
            order_topic_conf: None,
        })
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub fn cluster_info(&self) -> ClusterInfo {
        let t = self.tables.read();
        ClusterInfo {
            broker_addr_table: t.broker_addr.clone(),
            cluster_addr_table: t.cluster_addr.clone(),
        }
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER: every topic with queue data.
    pub fn all_topics(&self) -> TopicList {
        let t = self.tables.read();
        TopicList { topic_list: t.topic_queue.keys().cloned().collect(), broker_addr: None }
    }

    /// GET_TOPICS_BY_CLUSTER: topics hosted by at least one broker of `cluster`.
    pub fn topics_by_cluster(&self, cluster: &str) -> TopicList {
        let t = self.tables.read();
        let names = t.cluster_addr.get(cluster);
        let topic_list = t
            .topic_queue
            .iter()
            .filter(|(_, qs)| names.is_some_and(|n| qs.keys().any(|b| n.contains(b))))
            .map(|(topic, _)| topic.clone())
            .collect();
        TopicList { topic_list, broker_addr: None }
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster names and broker names (the topics brokers create
    /// under those names), plus one broker address to fetch their configs from.
    pub fn system_topics(&self) -> TopicList {
        let t = self.tables.read();
        let mut set = BTreeSet::new();
        for (cluster, names) in &t.cluster_addr {
            set.insert(cluster.clone());
            set.extend(names.iter().cloned());
        }
        let broker_addr =
            t.broker_addr.values().find_map(|b| b.broker_addrs.values().next().cloned());
        TopicList { topic_list: set.into_iter().collect(), broker_addr }
    }

    /// Topics whose queue data carry sys flags matching `pred` (unit topic lists).
    pub fn topics_by_sys_flag(&self, pred: impl Fn(i32) -> bool) -> TopicList {
        let t = self.tables.read();
        let topic_list = t
            .topic_queue
            .iter()
            .filter(|(_, qs)| qs.values().next().is_some_and(|q| pred(q.topic_sys_flag)))
            .map(|(topic, _)| topic.clone())
            .collect();
        TopicList { topic_list, broker_addr: None }
    }

    /// DELETE_TOPIC_IN_NAMESRV: drop the topic, or only its queue data on `cluster`'s brokers.
    /// Returns whether anything was removed.
    pub fn delete_topic(&self, topic: &str, cluster: Option<&str>) -> bool {
        let mut t = self.tables.write();
        let Some(cluster) = cluster.filter(|c| !c.is_empty()) else {
            return t.topic_queue.remove(topic).is_some();
        };
        let names = t.cluster_addr.get(cluster).cloned().unwrap_or_default();
        let Some(queues) = t.topic_queue.get_mut(topic) else { return false };
        let before = queues.len();
        queues.retain(|b, _| !names.contains(b));
        let removed = queues.len() != before;
        if queues.is_empty() {
            t.topic_queue.remove(topic);
        }
        removed
    }

    /// REGISTER_TOPIC_IN_NAMESRV (5.x): add queue data for a topic on known brokers. Fails
    /// (nothing changed) if a queue data names an unknown broker.
    pub fn register_topic(&self, topic: &str, queue_datas: &[QueueData]) -> Result<(), String> {
        let mut t = self.tables.write();
        if let Some(bad) = queue_datas.iter().find(|q| !t.broker_addr.contains_key(&q.broker_name))
        {
            return Err(format!("register topic {topic}: unknown broker '{}'", bad.broker_name));
        }
        if queue_datas.is_empty() {
            return Ok(());
        }
        let entry = t.topic_queue.entry(topic.to_string()).or_default();
        for q in queue_datas {
            entry.insert(q.broker_name.clone(), q.clone());
        }
        Ok(())
    }

    /// WIPE_WRITE_PERM_OF_BROKER (`add = false`: clear the write bit) and
    /// ADD_WRITE_PERM_OF_BROKER (`add = true`: set read+write, as Java). Returns the number of
    /// topics touched.
    pub fn change_write_perm(&self, broker_name: &str, add: bool) -> i32 {
        let mut t = self.tables.write();
        let mut n = 0;
        for q in t.topic_queue.values_mut().filter_map(|qs| qs.get_mut(broker_name)) {
            q.perm = if add { PERM_READ | PERM_WRITE } else { q.perm & !PERM_WRITE };
            n += 1;
        }
        n
    }

    /// For a slave's registration reply and tests: the live master of a broker name.
    pub fn master_of(&self, broker_name: &str) -> Option<String> {
        let t = self.tables.read();
        t.broker_addr.get(broker_name).and_then(|b| b.master_addr()).map(str::to_string)
    }

    /// Number of live broker addresses.
    pub fn live_broker_count(&self) -> usize {
        self.tables.read().live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::protocol::body::TopicConfig;

    fn reg(name: &str, addr: &str, id: i64, topics: &[(&str, i32)], counter: i64) -> Registration {
        let mut w = TopicConfigSerializeWrapper::default();
        for (t, q) in topics {
            w.topic_config_table.insert(t.to_string(), TopicConfig::new(*t, *q, 6));
        }
        w.data_version.counter = counter;
        Registration {
            cluster: "C".into(),
            broker_addr: addr.into(),
            broker_name: name.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            timeout: Duration::from_secs(120),
            topics: w,
            filter_server_list: vec![],
            channel: None,
            delete_missing_topics: false,
            enable_acting_master: false,
        }
    }

    #[test]
    fn register_and_route() {
        let r = RouteInfo::new();
        assert!(r.topic_route("T").is_none());
        r.register_broker(reg("b", "1.1.1.1:10911", 0, &[("T", 4)], 1));
        let route = r.topic_route("T").unwrap();
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        assert_eq!(route.broker_datas[0].master_addr(), Some("1.1.1.1:10911"));
        assert_eq!(r.cluster_info().cluster_addr_table["C"].len(), 1);
        assert_eq!(r.all_topics().topic_list, vec!["T"]);
        assert_eq!(r.topics_by_cluster("C").topic_list, vec!["T"]);
        assert!(r.topics_by_cluster("X").topic_list.is_empty());
    }

    #[test]
    fn slaves_do_not_change_routes_and_learn_master() {
        let r = RouteInfo::new();
        let res = r.register_broker(reg("b", "2.2.2.2:10911", 1, &[("S", 4)], 1));
        assert_eq!(res, RegisterResult::default(), "no master yet");
        assert!(r.topic_route("S").is_none());
        r.register_broker(reg("b", "1.1.1.1:10911", 0, &[("T", 4)], 1));
        let res = r.register_broker(reg("b", "2.2.2.2:10911", 1, &[("S", 4)], 2));
        assert_eq!(res.master_addr.as_deref(), Some("1.1.1.1:10911"));
        assert_eq!(res.ha_server_addr.as_deref(), Some("1.1.1.1:10911-ha"));
        assert!(r.topic_route("S").is_none());
        assert_eq!(r.topic_route("T").unwrap().broker_datas[0].broker_addrs.len(), 2);
    }

    #[test]
    fn unchanged_data_version_does_not_reapply_topics() {
        let r = RouteInfo::new();
        r.register_broker(reg("b", "a:1", 0, &[("T", 4)], 1));
        r.delete_topic("T", None);
        r.register_broker(reg("b", "a:1", 0, &[("T", 4)], 1));
        assert!(r.topic_route("T").is_none(), "same version: topics not re-applied");
        r.register_broker(reg("b", "a:1", 0, &[("T", 8)], 2));
        assert_eq!(r.topic_route("T").unwrap().queue_datas[0].read_queue_nums, 8);
    }

    #[test]
    fn broker_name_routes_go_only_with_last_address() {
        let r = RouteInfo::new();
        r.register_broker(reg("b", "m:1", 0, &[("T", 4)], 1));
        r.register_broker(reg("b", "s:1", 1, &[("T", 4)], 1));
        let rm = r.unregister_broker("C", "m:1", "b");
        assert!(!rm.broker_name_removed);
        let route = r.topic_route("T").unwrap();
        assert_eq!(route.broker_datas[0].master_addr(), None, "slave remains, no id 0");
        let rm = r.unregister_broker("C", "s:1", "b");
        assert!(rm.broker_name_removed);
        assert!(r.topic_route("T").is_none());
        assert!(r.cluster_info().cluster_addr_table.is_empty());
        assert!(r.all_topics().topic_list.is_empty());
    }

    #[test]
    fn topic_shared_by_two_brokers_survives_one() {
        let r = RouteInfo::new();
        r.register_broker(reg("a", "a:1", 0, &[("T", 4)], 1));
        r.register_broker(reg("b", "b:1", 0, &[("T", 2)], 1));
        assert_eq!(r.topic_route("T").unwrap().queue_datas.len(), 2);
        r.unregister_broker("C", "a:1", "a");
        let route = r.topic_route("T").unwrap();
        assert_eq!(route.queue_datas.len(), 1);
        assert_eq!(route.queue_datas[0].broker_name, "b");
    }

    #[test]
    fn expiry_scan() {
        let r = RouteInfo::new();
        let mut short = reg("a", "a:1", 0, &[("T", 4)], 1);
        short.timeout = Duration::from_millis(10);
        r.register_broker(short);
        r.register_broker(reg("b", "b:1", 0, &[("U", 4)], 1));
        assert!(r.scan_not_active(Instant::now()).is_empty());
        let removed = r.scan_not_active(Instant::now() + Duration::from_millis(50));
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].key.addr, "a:1");
        assert!(r.topic_route("T").is_none());
        assert!(r.topic_route("U").is_some());
        assert!(!r.touch("C", "a:1"));
        assert!(r.touch("C", "b:1"));
    }

    #[test]
    fn promoted_slave_loses_old_id() {
        let r = RouteInfo::new();
        r.register_broker(reg("b", "s:1", 1, &[], 1));
        r.register_broker(reg("b", "s:1", 0, &[("T", 4)], 1));
        let route = r.topic_route("T").unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 1);
        assert_eq!(route.broker_datas[0].master_addr(), Some("s:1"));
    }

    #[test]
    fn delete_topic_by_cluster_and_perm_changes() {
        let r = RouteInfo::new();
        r.register_broker(reg("a", "a:1", 0, &[("T", 4), ("U", 4)], 1));
        let mut other = reg("b", "b:1", 0, &[("T", 4)], 1);
        other.cluster = "D".into();
        r.register_broker(other);
        assert!(r.delete_topic("T", Some("C")));
        let route = r.topic_route("T").unwrap();
        assert_eq!(route.queue_datas.len(), 1);
        assert_eq!(route.queue_datas[0].broker_name, "b");
        assert!(!r.delete_topic("nope", None));
        assert_eq!(r.change_write_perm("a", false), 1);
        assert_eq!(r.topic_route("U").unwrap().queue_datas[0].perm, PERM_READ);
        assert_eq!(r.change_write_perm("a", true), 1);
        assert_eq!(r.topic_route("U").unwrap().queue_datas[0].perm, PERM_READ | PERM_WRITE);
        let sys = r.system_topics();
        assert_eq!(sys.topic_list, vec!["C", "D", "a", "b"]);
        assert!(sys.broker_addr.is_some());
    }

    #[test]
    fn register_topic_requires_known_brokers() {
        let r = RouteInfo::new();
        r.register_broker(reg("a", "a:1", 0, &[], 1));
        let qd = QueueData {
            broker_name: "a".into(),
            read_queue_nums: 2,
            write_queue_nums: 2,
            perm: 6,
            topic_sys_flag: 0,
        };
        r.register_topic("N", std::slice::from_ref(&qd)).unwrap();
        assert_eq!(r.topic_route("N").unwrap().queue_datas, vec![qd.clone()]);
        let bad = QueueData { broker_name: "zz".into(), ..qd };
        assert!(r.register_topic("M", &[bad]).is_err());
        assert!(r.topic_route("M").is_none());
    }

    #[test]
    fn delete_missing_topics_option() {
        let r = RouteInfo::new();
        r.register_broker(reg("a", "a:1", 0, &[("T", 4), ("U", 4)], 1));
        let mut g = reg("a", "a:1", 0, &[("T", 4)], 2);
        g.delete_missing_topics = true;
        r.register_broker(g);
        assert!(r.topic_route("U").is_none());
        assert!(r.topic_route("T").is_some());
    }

    #[test]
    fn unit_flags() {
        let r = RouteInfo::new();
        let mut g = reg("a", "a:1", 0, &[("T", 4), ("U", 4)], 1);
        g.topics.topic_config_table.get_mut("U").unwrap().topic_sys_flag = FLAG_UNIT;
        r.register_broker(g);
        assert_eq!(r.topics_by_sys_flag(|f| f & FLAG_UNIT != 0).topic_list, vec!["U"]);
    }

    #[test]
    fn stale_state_version_rejected() {
        let r = RouteInfo::new();
        let mut new = reg("b", "new:1", 0, &[("T", 4)], 1);
        new.topics.data_version.state_version = Some(5);
        r.register_broker(new);
        let mut old = reg("b", "old:1", 0, &[("T", 4)], 1);
        old.topics.data_version.state_version = Some(1);
        r.register_broker(old);
        assert_eq!(r.master_of("b").as_deref(), Some("new:1"));
        assert_eq!(r.live_broker_count(), 1);
    }
}
