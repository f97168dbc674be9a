//! Routes: what the nameserver says about a topic, and the queues derived from it (spec §2.10).
//!
//! Producers write to brokers that have a master (id 0) and a writable queue-data entry;
//! consumers read every readable queue. Both lists are sorted so that every client derives the
//! same order (the rebalance depends on it).

use std::collections::{BTreeMap, BTreeSet};

use dashmap::DashMap;
use mq_common::protocol::body::{MessageQueue, TopicRouteData, PERM_READ, PERM_WRITE};

/// Queues a producer may send to for `topic`.
///
/// With an `orderTopicConf` (`brokerA:4;brokerB:4`) that list wins, as in Java: ordered topics
/// keep a fixed queue layout.
pub fn publish_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut out = Vec::new();
    if let Some(conf) = route.order_topic_conf.as_deref().filter(|c| !c.trim().is_empty()) {
        for item in conf.split(';') {
            if let Some((broker, n)) = item.split_once(':') {
                let n: i32 = n.trim().parse().unwrap_or(0);
                for q in 0..n {
                    out.push(MessageQueue::new(topic, broker.trim(), q));
                }
            }
        }
        return out;
    }
    let mut qds: Vec<_> = route.queue_datas.iter().collect();
    qds.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    for qd in qds {
        if qd.perm & PERM_WRITE == 0 {
            continue;
        }
        let has_master = route
            .broker_datas
            .iter()
            .any(|bd| bd.broker_name == qd.broker_name && bd.master_addr().is_some());
        if !has_master {
            continue;
        }
        for q in 0..qd.write_queue_nums.max(0) {
            out.push(MessageQueue::new(topic, qd.broker_name.clone(), q));
        }
    }
    out
}

/// Queues a consumer may read for `topic` (every readable queue).
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> BTreeSet<MessageQueue> {
    let mut out = BTreeSet::new();
    for qd in &route.queue_datas {
        if qd.perm & PERM_READ == 0 {
            continue;
        }
        for q in 0..qd.read_queue_nums.max(0) {
            out.insert(MessageQueue::new(topic, qd.broker_name.clone(), q));
        }
    }
    out
}

/// The route of the template topic (TBW102) reshaped for `topic`: each broker gets
/// `min(default_queue_nums, readQueueNums)` queues (spec §2.12).
pub fn route_from_template(template: &TopicRouteData, default_queue_nums: i32) -> TopicRouteData {
    let mut r = template.clone();
    for qd in &mut r.queue_datas {
        let n = default_queue_nums.min(qd.read_queue_nums);
        qd.read_queue_nums = n;
        qd.write_queue_nums = n;
    }
    r
}

/// Cache of routes and broker addresses, filled from nameserver answers.
#[derive(Default)]
pub struct RouteTable {
    routes: DashMap<String, TopicRouteData>,
    /// broker name → (broker id → address)
    brokers: DashMap<String, BTreeMap<i64, String>>,
}

impl RouteTable {
    /// Remember a topic's route and the broker addresses it names.
    pub fn update(&self, topic: &str, route: &TopicRouteData) {
        for bd in &route.broker_datas {
            let addrs: BTreeMap<i64, String> = bd
                .broker_addrs
                .iter()
                .filter_map(|(id, a)| Some((id.parse().ok()?, a.clone())))
                .collect();
            self.brokers.insert(bd.broker_name.clone(), addrs);
        }
        self.routes.insert(topic.to_string(), route.clone());
    }

    /// The cached route of a topic.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        self.routes.get(topic).map(|r| r.clone())
    }

    /// Topics with a cached route.
    pub fn topics(&self) -> Vec<String> {
        self.routes.iter().map(|e| e.key().clone()).collect()
    }

    /// The master address of a broker name.
    pub fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.brokers.get(broker_name).and_then(|m| m.get(&0).cloned())
    }

    /// An address of a broker name: the master if known, else any replica.
    pub fn any_addr(&self, broker_name: &str) -> Option<String> {
        self.brokers.get(broker_name).and_then(|m| m.get(&0).or_else(|| m.values().next()).cloned())
    }

    /// The address of replica `id` of a broker name, falling back to the master, then to any
    /// replica (pulls follow the broker's `suggestWhichBrokerId`; a dead master is skipped).
    pub fn addr_for(&self, broker_name: &str, id: i64) -> Option<String> {
        let m = self.brokers.get(broker_name)?;
        m.get(&id).or_else(|| m.get(&0)).or_else(|| m.values().next()).cloned()
    }

    /// Every known broker address (masters and slaves), deduplicated.
    pub fn all_broker_addrs(&self) -> BTreeSet<String> {
        self.brokers.iter().flat_map(|e| e.value().values().cloned().collect::<Vec<_>>()).collect()
    }

    /// Every known master address.
    pub fn all_master_addrs(&self) -> BTreeSet<String> {
        self.brokers.iter().filter_map(|e| e.value().get(&0).cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::protocol::body::{BrokerData, QueueData};

    fn route() -> TopicRouteData {
        let bd = |name: &str, addrs: &[(&str, &str)]| BrokerData {
            broker_name: name.into(),
            cluster: "C".into(),
            broker_addrs: addrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        let qd = |name: &str, r, w, perm| QueueData {
            broker_name: name.into(),
            read_queue_nums: r,
            write_queue_nums: w,
            perm,
            ..Default::default()
        };
        TopicRouteData {
            broker_datas: vec![
                bd("b", &[("0", "h:2")]),
                bd("a", &[("0", "h:1")]),
                bd("s", &[("1", "h:3")]),
            ],
            queue_datas: vec![
                qd("b", 2, 2, 6),
                qd("a", 3, 2, 6),
                qd("s", 2, 2, 6),
                qd("ro", 1, 1, 4),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn publish_needs_master_and_write_perm() {
        let q = publish_queues("T", &route());
        let names: Vec<String> =
            q.iter().map(|m| format!("{}{}", m.broker_name, m.queue_id)).collect();
        assert_eq!(names, vec!["a0", "a1", "b0", "b1"]);
    }

    #[test]
    fn subscribe_takes_readable() {
        let q = subscribe_queues("T", &route());
        assert_eq!(q.len(), 3 + 2 + 2 + 1);
    }

    #[test]
    fn order_conf_wins() {
        let mut r = route();
        r.order_topic_conf = Some("x:2;y:1".into());
        let q = publish_queues("T", &r);
        assert_eq!(q.len(), 3);
        assert_eq!(q[2], MessageQueue::new("T", "y", 0));
    }

    #[test]
    fn template_shrinks_queue_counts() {
        let r = route_from_template(&route(), 2);
        assert!(r.queue_datas.iter().all(|q| q.write_queue_nums <= 2));
        let table = RouteTable::default();
        table.update("T", &r);
        assert_eq!(table.master_addr("a").as_deref(), Some("h:1"));
        assert_eq!(table.master_addr("s"), None);
        assert_eq!(table.any_addr("s").as_deref(), Some("h:3"));
        assert_eq!(table.all_master_addrs().len(), 2);
        assert_eq!(table.addr_for("s", 0).as_deref(), Some("h:3"), "no master: any replica");
        assert_eq!(table.addr_for("a", 1).as_deref(), Some("h:1"), "unknown replica: the master");
        assert_eq!(table.addr_for("s", 1).as_deref(), Some("h:3"));
        assert_eq!(table.addr_for("zz", 0), None);
    }
}
