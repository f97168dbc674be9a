//! Topic admin: list (GET_ALL_TOPIC_CONFIG per master), route, stats, create, delete, send,
//! consumers of a topic.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use mq_common::message::property;
use mq_common::protocol::body::{system_topics, TopicConfig, PERM_WRITE};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{
    DeleteTopicFromNamesrvRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
};
use mq_common::protocol::{now_millis, RemotingCommand};

use super::{answers, broker_error, op_results, RemoteBackend, Target, CONSOLE_PRODUCER_GROUP};
use crate::backend::*;

impl RemoteBackend {
    pub(super) async fn topics_list(&self) -> BResult<Partial<Vec<TopicSummary>>> {
        if let Some(c) = self.topics.get(self.ttl) {
            return Ok((*c).clone());
        }
        let masters = self.masters(&[]).await?;
        let names = self.cluster_names().await?;
        let (ok, failures) = answers(self.admin()?.topic_configs_per_broker(masters).await)?;
        let mut merged: BTreeMap<String, TopicSummary> = BTreeMap::new();
        for (t, table) in ok {
            for (name, tc) in table {
                let e = merged.entry(name.clone()).or_insert_with(|| TopicSummary {
                    kind: TopicKind::classify(&name, &names),
                    name,
                    brokers: Vec::new(),
                    read_queues: 0,
                    write_queues: 0,
                    perm: tc.perm,
                    order: tc.order,
                });
                e.brokers.push(t.name.clone());
                e.read_queues += tc.read_queue_nums;
                e.write_queues += tc.write_queue_nums;
            }
        }
        let p = Partial { items: merged.into_values().collect(), failures };
        self.topics.put(p.clone());
        Ok(p)
    }

    pub(super) async fn topic_route_view(&self, topic: &str) -> BResult<TopicRoute> {
        let r = self.route(topic).await?;
        Ok(TopicRoute {
            brokers: r
                .broker_datas
                .iter()
                .map(|b| RouteBroker {
                    broker_name: b.broker_name.clone(),
                    cluster: b.cluster.clone(),
                    addrs: b.broker_addrs.clone(),
                })
                .collect(),
            queues: r
                .queue_datas
                .iter()
                .map(|q| RouteQueues {
                    broker_name: q.broker_name.clone(),
                    read_queues: q.read_queue_nums,
                    write_queues: q.write_queue_nums,
                    perm: q.perm,
                })
                .collect(),
        })
    }

    pub(super) async fn topic_status_all(&self, topic: &str) -> BResult<Partial<Vec<QueueStatus>>> {
        let per = self
            .admin()?
            .topic_status_per_broker(topic)
            .await
            .map_err(|e| self.route_error(topic, e))?;
        let failures = super::failures_of(&per.failed);
        if per.all_failed() {
            return Err(BackendError::AllFailed(failures));
        }
        let items = per
            .ok
            .into_iter()
            .flat_map(|(t, qs)| {
                qs.into_iter().map(move |(mq, o)| QueueStatus {
                    broker_name: if mq.broker_name.is_empty() {
                        t.name.clone()
                    } else {
                        mq.broker_name
                    },
                    queue_id: mq.queue_id,
                    min_offset: o.min_offset,
                    max_offset: o.max_offset,
                    last_update_timestamp: (o.last_update_timestamp > 0)
                        .then_some(o.last_update_timestamp),
                })
            })
            .collect();
        Ok(Partial { items, failures })
    }

    async fn target_masters(
        &self,
        brokers: &[String],
        cluster: Option<&str>,
    ) -> BResult<Vec<Target>> {
        let all = self.masters(brokers).await?;
        let v: Vec<Target> = all
            .into_iter()
            .filter(|t| cluster.is_none_or(|c| c.is_empty() || t.cluster == c))
            .collect();
        if v.is_empty() {
            return Err(BackendError::Invalid(
                "no matching master broker registered on the nameserver".into(),
            ));
        }
        Ok(v)
    }

    pub(super) async fn topic_create(&self, r: &TopicCreate) -> BResult<Vec<BrokerOpResult>> {
        let targets = self.target_masters(&r.brokers, r.cluster.as_deref()).await?;
        let mut tc = TopicConfig::new(r.name.clone(), r.read_queues, r.perm);
        tc.write_queue_nums = r.write_queues;
        tc.order = r.order;
        let per = self
            .admin()?
            .create_topic_per_broker(targets, &tc)
            .await
            .map_err(|e| BackendError::Invalid(e.to_string()))?;
        Ok(op_results(per))
    }

    pub(super) async fn topic_delete(&self, topic: &str) -> BResult<Vec<BrokerOpResult>> {
        let targets = match self.topic_masters(topic).await {
            Ok((_, t)) if !t.is_empty() => t,
            _ => self.masters(&[]).await?,
        };
        let admin = self.admin()?;
        let mut out = op_results(admin.delete_topic_per_broker(targets, topic).await);
        let nh =
            DeleteTopicFromNamesrvRequestHeader { topic: topic.to_string(), ..Default::default() };
        for ns in &self.namesrv {
            let r = admin
                .api()
                .invoke_ok(
                    ns,
                    RemotingCommand::request_with_header(request::DELETE_TOPIC_IN_NAMESRV, &nh),
                )
                .await;
            out.push(BrokerOpResult {
                broker: "namesrv".into(),
                addr: ns.clone(),
                ok: r.is_ok(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        Ok(out)
    }

    /// Send one message to `topic` through a writable queue of its route.
    pub(super) async fn send_raw(
        &self,
        topic: &str,
        props: &BTreeMap<String, String>,
        body: Bytes,
    ) -> BResult<SendResult> {
        let (route, targets) = self.topic_masters(topic).await?;
        let mut queues: Vec<(Target, i32)> = Vec::new();
        for qd in route.queue_datas.iter().filter(|q| q.perm & PERM_WRITE != 0) {
            if let Some(t) = targets.iter().find(|t| t.name == qd.broker_name) {
                for q in 0..qd.write_queue_nums {
                    queues.push((t.clone(), q));
                }
            }
        }
        if queues.is_empty() {
            return Err(BackendError::Invalid(format!("topic {topic} has no writable queue")));
        }
        let n = self.rr.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (t, qid) = queues[n % queues.len()].clone();
        let mut props = props.clone();
        let uniq = props
            .entry(property::UNIQ_KEY.to_string())
            .or_insert_with(|| self.ids.next_id())
            .clone();
        props.entry(property::WAIT.to_string()).or_insert_with(|| "true".into());
        let h = SendMessageRequestHeader {
            producer_group: CONSOLE_PRODUCER_GROUP.into(),
            topic: topic.to_string(),
            default_topic: system_topics::TBW102.into(),
            default_topic_queue_nums: 4,
            queue_id: qid,
            sys_flag: 0,
            born_timestamp: now_millis(),
            flag: 0,
            properties: Some(mq_common::message::encode_properties(props.iter())),
            reconsume_times: Some(0),
            ..Default::default()
        };
        let h2 = SendMessageRequestHeaderV2::from(&h);
        let r = self
            .call_raw(
                &t,
                RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &h2).with_body(body),
            )
            .await?;
        let status = match r.code {
            response::SUCCESS => "SEND_OK",
            response::FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
            response::FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
            response::SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
            c => {
                return Err(broker_error(
                    &t,
                    format!("response code {c}: {}", r.remark.unwrap_or_default()),
                ))
            }
        };
        let rh: SendMessageResponseHeader =
            r.decode_header().map_err(|e| broker_error(&t, format!("bad send response: {e}")))?;
        Ok(SendResult {
            status: status.into(),
            msg_id: uniq,
            offset_msg_id: Some(rh.msg_id),
            broker_name: t.name.clone(),
            queue_id: rh.queue_id,
            queue_offset: rh.queue_offset,
        })
    }

    pub(super) async fn send(&self, r: &SendRequest) -> BResult<SendResult> {
        let mut props = BTreeMap::new();
        if let Some(t) = &r.tags {
            props.insert(property::TAGS.to_string(), t.clone());
        }
        if let Some(k) = &r.keys {
            props.insert(property::KEYS.to_string(), k.clone());
        }
        self.send_raw(&r.topic, &props, Bytes::from(r.body.clone().into_bytes())).await
    }

    /// Groups that consume a topic (QUERY_TOPIC_CONSUME_BY_WHO on its masters).
    pub(super) async fn groups_of_topic(
        &self,
        topic: &str,
    ) -> BResult<(Vec<String>, Vec<BrokerFailure>)> {
        let per = self
            .admin()?
            .topic_consumed_by_per_broker(topic)
            .await
            .map_err(|e| self.route_error(topic, e))?;
        let (ok, failures) = answers(per)?;
        let groups: BTreeSet<String> = ok.into_iter().flat_map(|(_, g)| g).collect();
        Ok((groups.into_iter().collect(), failures))
    }

    pub(super) async fn consumers_of(&self, topic: &str) -> BResult<Partial<Vec<(String, Lag)>>> {
        let (groups, mut failures) = self.groups_of_topic(topic).await?;
        let rows = futures::future::join_all(
            groups
                .iter()
                .map(|g| async move { (g.clone(), self.progress_of(g, Some(topic)).await) }),
        )
        .await;
        let mut items = Vec::new();
        for (g, r) in rows {
            match r {
                Ok(p) => {
                    let lag = if p.failures.is_empty() {
                        Lag::sum(p.items.iter().map(|q| &q.lag))
                    } else {
                        Lag::unknown(format!("{} broker(s) failed", p.failures.len()))
                    };
                    for f in p.failures {
                        if !failures.contains(&f) {
                            failures.push(f);
                        }
                    }
                    items.push((g, lag));
                }
                Err(e) => items.push((g, Lag::unknown(e.to_string()))),
            }
        }
        Ok(Partial { items, failures })
    }
}
