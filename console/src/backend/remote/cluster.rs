//! Cluster overview, broker runtime tables and the sampler's running totals.

use std::collections::{BTreeMap, BTreeSet};

use mq_common::protocol::body::{MessageQueue, TopicOffset};

use super::{answers, broker_error, failures_of, RemoteBackend, Target};
use crate::backend::*;

fn num(t: &BTreeMap<String, String>, k: &str) -> Option<i64> {
    t.get(k).and_then(|v| v.trim().parse::<f64>().ok()).map(|f| f as i64)
}

impl RemoteBackend {
    pub(super) async fn runtime_of(&self, addr: &str) -> BResult<BTreeMap<String, String>> {
        // Only addresses the nameserver knows: never connect wherever a request says.
        let t = self
            .name_of_addr(addr)
            .await
            .ok_or_else(|| BackendError::NotFound(format!("no broker registered at {addr}")))?;
        self.admin()?.broker_runtime_info(&t.addr).await.map_err(|e| broker_error(&t, e))
    }

    pub(super) async fn overview(&self) -> BResult<Partial<ClusterOverview>> {
        let all = self.all_brokers().await?;
        let per = self.admin()?.broker_runtime_info_per_broker(all).await;
        // Every broker stays listed: a dead one with its error, so the page shows it is down.
        let failures = failures_of(&per.failed);
        let ok = per.ok;
        // Groups in controller mode, by the controllers their brokers name.
        let mut ctl: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
        for (t, tab) in &ok {
            if let Some(a) = tab.get("controllerAddr").filter(|a| !a.is_empty()) {
                ctl.entry(a.clone()).or_default().insert((t.cluster.clone(), t.name.clone()));
            }
        }
        let mut brokers: Vec<BrokerInfo> = ok
            .into_iter()
            .map(|(t, tab)| {
                let put_now = num(&tab, "msgPutTotalTodayNow");
                let get_now = num(&tab, "msgGetTotalTodayNow");
                let role = tab.get("brokerRole").cloned().unwrap_or_else(|| {
                    if t.id == 0 {
                        "MASTER".into()
                    } else {
                        "SLAVE".into()
                    }
                });
                let disk = tab.get("commitLogDiskRatio").and_then(|v| v.parse::<f64>().ok());
                BrokerInfo {
                    cluster: t.cluster,
                    broker_name: t.name,
                    broker_id: t.id,
                    addr: t.addr,
                    role,
                    version: tab
                        .get("brokerVersionDesc")
                        .or_else(|| tab.get("brokerVersion"))
                        .cloned(),
                    put_today: put_now
                        .map(|n| n - num(&tab, "msgPutTotalTodayMorning").unwrap_or(0)),
                    get_today: get_now
                        .map(|n| n - num(&tab, "msgGetTotalTodayMorning").unwrap_or(0)),
                    put_total: put_now,
                    get_total: get_now,
                    disk_ratio: disk,
                    boot_timestamp: num(&tab, "bootTimestamp"),
                    max_offset: num(&tab, "commitLogMaxOffset"),
                    behind_bytes: None,
                    error: None,
                }
            })
            .collect();
        // Failed brokers stay listed, with their error.
        for f in per.failed {
            let t = f.broker;
            brokers.push(BrokerInfo {
                role: if t.is_master() { "MASTER".into() } else { "SLAVE".into() },
                cluster: t.cluster,
                broker_name: t.name,
                broker_id: t.id,
                addr: t.addr,
                error: Some(f.error.to_string()),
                ..Default::default()
            });
        }
        // Replica lag: each slave against the master of its group.
        let masters: BTreeMap<(String, String), i64> = brokers
            .iter()
            .filter(|b| b.broker_id == 0)
            .filter_map(|b| Some(((b.cluster.clone(), b.broker_name.clone()), b.max_offset?)))
            .collect();
        for b in brokers.iter_mut().filter(|b| b.broker_id != 0) {
            let m = masters.get(&(b.cluster.clone(), b.broker_name.clone()));
            b.behind_bytes = m.zip(b.max_offset).map(|(m, s)| (m - s).max(0));
        }
        brokers.sort_by(|a, b| {
            (&a.cluster, &a.broker_name, a.broker_id).cmp(&(
                &b.cluster,
                &b.broker_name,
                b.broker_id,
            ))
        });
        let controller_groups = self.controller_groups(ctl, &brokers).await;
        let items = ClusterOverview { namesrv: self.namesrv.clone(), brokers, controller_groups };
        Ok(Partial { items, failures })
    }

    /// Per-queue offsets of a topic on one broker.
    pub(super) async fn topic_offsets(
        &self,
        t: &Target,
        topic: &str,
    ) -> BResult<Vec<(MessageQueue, TopicOffset)>> {
        let stats =
            self.admin()?.topic_stats_at(&t.addr, topic).await.map_err(|e| broker_error(t, e))?;
        Ok(stats.into_iter().collect())
    }

    pub(super) async fn totals(&self, max_topics: usize) -> BResult<TotalsSample> {
        let all = self.all_brokers().await?;
        let (ok, _) = answers(self.admin()?.broker_runtime_info_per_broker(all).await)?;
        let mut s = TotalsSample::default();
        for (t, tab) in ok {
            if let (Some(p), Some(g)) =
                (num(&tab, "msgPutTotalTodayNow"), num(&tab, "msgGetTotalTodayNow"))
            {
                s.brokers.insert(format!("{}@{}", t.name, t.addr), (p, g));
            }
        }
        // Topic rates: sum of max offsets of user topics, a bounded number of calls at a time.
        let topics = self.topics_list().await.map(|p| p.items).unwrap_or_default();
        let masters = self.masters(&[]).await?;
        let user: Vec<TopicSummary> =
            topics.into_iter().filter(|t| t.kind == TopicKind::Normal).take(max_topics).collect();
        use futures::StreamExt;
        let sums: Vec<(String, Option<i64>)> = futures::stream::iter(user.into_iter().map(|tp| {
            let targets: Vec<Target> =
                masters.iter().filter(|m| tp.brokers.contains(&m.name)).cloned().collect();
            async move {
                let mut total = 0i64;
                for t in &targets {
                    match self.topic_offsets(t, &tp.name).await {
                        Ok(q) => total += q.iter().map(|(_, o)| o.max_offset).sum::<i64>(),
                        Err(_) => return (tp.name, None),
                    }
                }
                (tp.name, Some(total))
            }
        }))
        .buffer_unordered(16)
        .collect()
        .await;
        for (name, v) in sums {
            if let Some(v) = v {
                s.topics.insert(name, v);
            }
        }
        Ok(s)
    }
}
