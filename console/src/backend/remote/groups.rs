//! Consumer groups: list (GET_ALL_SUBSCRIPTIONGROUP_CONFIG), consume stats → lag, members,
//! offset reset (preview + apply), create/delete; producer connections.

use std::collections::{BTreeMap, BTreeSet};

use mq_client::admin::fan_out;
use mq_common::protocol::body::{
    system_topics, ConsumerConnection, MessageQueue, SubscriptionGroupConfig,
};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::ResetOffsetRequestHeader;
use mq_common::protocol::RemotingCommand;

use super::{answers, broker_error, op_results, RemoteBackend, Target};
use crate::backend::*;

/// What one pass over a group's brokers found.
struct Gathered {
    rows: Vec<QueueProgress>,
    failures: Vec<BrokerFailure>,
    tps: f64,
    conn: Option<ConsumerConnection>,
}

/// Java's default `AllocateMessageQueueAveragely`: which client a queue goes to. Used to show
/// the (expected) client of each queue, since brokers do not record assignments.
fn allocate_averagely(clients: &[String], mqs: &[MessageQueue]) -> BTreeMap<MessageQueue, String> {
    let mut out = BTreeMap::new();
    let (n, m) = (clients.len(), mqs.len());
    if n == 0 || m == 0 {
        return out;
    }
    for (i, c) in clients.iter().enumerate() {
        let md = m % n;
        let avg = if m <= n {
            1
        } else if md > 0 && i < md {
            m / n + 1
        } else {
            m / n
        };
        let start = if md > 0 && i < md { i * avg } else { i * avg + md };
        let range = avg.min(m.saturating_sub(start));
        for j in 0..range {
            out.insert(mqs[(start + j) % m].clone(), c.clone());
        }
    }
    out
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Clients send Java's `MQVersion.Version` ordinal; shown as that number (no table of names
/// here, to avoid guessing).
fn version_name(v: i32) -> String {
    v.to_string()
}

impl RemoteBackend {
    pub(super) async fn groups_list(&self) -> BResult<Partial<Vec<GroupSummary>>> {
        if let Some(c) = self.groups.get(self.ttl) {
            return Ok((*c).clone());
        }
        let masters = self.masters(&[]).await?;
        let (ok, failures) = answers(self.admin()?.subscription_groups_per_broker(masters).await)?;
        let mut merged: BTreeMap<String, GroupSummary> = BTreeMap::new();
        for (t, table) in ok {
            for (name, c) in table {
                let e = merged.entry(name.clone()).or_insert_with(|| GroupSummary {
                    system: is_system_group(&name),
                    name,
                    brokers: Vec::new(),
                    consume_broadcast_enable: c.consume_broadcast_enable,
                    consume_orderly: c.consume_message_orderly,
                    retry_queue_nums: c.retry_queue_nums,
                    retry_max_times: c.retry_max_times,
                });
                e.brokers.push(t.name.clone());
            }
        }
        let p = Partial { items: merged.into_values().collect(), failures };
        self.groups.put(p.clone());
        Ok(p)
    }

    /// Online connections of a group, merged over masters; None members when every broker failed.
    async fn connection(&self, group: &str) -> BResult<ConsumerConnection> {
        let masters = self.masters(&[]).await?;
        let (ok, _) = answers(self.admin()?.consumer_connection_per_broker(group, masters).await)?;
        let mut merged = ConsumerConnection::default();
        let mut seen = BTreeSet::new();
        for (_, c) in ok {
            let Some(c) = c else { continue };
            for conn in c.connection_set {
                if seen.insert(conn.client_id.clone()) {
                    merged.connection_set.insert(conn);
                }
            }
            merged.subscription_table.extend(c.subscription_table);
            for (dst, src) in [
                (&mut merged.consume_type, c.consume_type),
                (&mut merged.message_model, c.message_model),
                (&mut merged.consume_from_where, c.consume_from_where),
            ] {
                if dst.is_empty() {
                    *dst = src;
                }
            }
        }
        Ok(merged)
    }

    pub(super) async fn members_of(&self, group: &str) -> BResult<GroupMembers> {
        let c = self.connection(group).await?;
        Ok(GroupMembers {
            members: c
                .connection_set
                .iter()
                .map(|x| Member {
                    client_id: x.client_id.clone(),
                    client_addr: x.client_addr.clone(),
                    language: x.language.clone(),
                    version: version_name(x.version),
                })
                .collect(),
            subscriptions: c
                .subscription_table
                .iter()
                .map(|(t, s)| Subscription {
                    topic: t.clone(),
                    expression: s.sub_string.clone(),
                    expression_type: s.expression_type.clone(),
                })
                .collect(),
            consume_type: non_empty(c.consume_type),
            message_model: non_empty(c.message_model),
            consume_from_where: non_empty(c.consume_from_where),
        })
    }

    /// The committed offset of one queue, asking the broker not to invent a zero.
    async fn committed_offset(
        &self,
        t: &Target,
        group: &str,
        mq: &MessageQueue,
    ) -> Result<Option<i64>, String> {
        let offset = self
            .admin()
            .map_err(|e| e.to_string())?
            .api()
            .query_consumer_offset(&t.addr, group, mq)
            .await
            .map_err(|e| e.to_string())?;
        Ok(offset.filter(|o| *o >= 0))
    }

    async fn gather(&self, group: &str, only_topic: Option<&str>) -> BResult<Gathered> {
        let masters = match only_topic {
            Some(t) => self.topic_masters(t).await?.1,
            None => self.masters(&[]).await?,
        };
        let admin = self.admin()?;
        // Members and stats at once: with a hung broker each waits one timeout, not two.
        let stats = fan_out(masters, |t| async move {
            let cs = admin.consume_stats_at(&t.addr, group, only_topic).await?;
            // Java writes consumerOffset 0 when nothing is stored: ask again for the
            // ambiguous queues so "never committed" is not shown as "at offset 0".
            let mut rows = Vec::new();
            for (mq, ow) in cs.offset_table.0 {
                let (consumer, lag) = if ow.consumer_offset < 0 {
                    (None, Lag::of_queue(ow.broker_offset, None))
                } else if ow.consumer_offset == 0 && ow.broker_offset > 0 {
                    match self.committed_offset(&t, group, &mq).await {
                        Ok(c) => (c, Lag::of_queue(ow.broker_offset, c)),
                        Err(e) => (None, Lag::unknown(format!("offset query failed: {e}"))),
                    }
                } else {
                    (
                        Some(ow.consumer_offset),
                        Lag::of_queue(ow.broker_offset, Some(ow.consumer_offset)),
                    )
                };
                rows.push(QueueProgress {
                    broker_name: if mq.broker_name.is_empty() {
                        t.name.clone()
                    } else {
                        mq.broker_name.clone()
                    },
                    topic: mq.topic.clone(),
                    queue_id: mq.queue_id,
                    broker_offset: ow.broker_offset,
                    consumer_offset: consumer,
                    lag,
                    client: None,
                    last_timestamp: (ow.last_timestamp > 0).then_some(ow.last_timestamp),
                });
            }
            Ok((rows, cs.consume_tps))
        });
        let (conn, per) = tokio::join!(self.connection(group), stats);
        let conn = conn.ok();
        let (ok, mut failures) = answers(per)?;
        let mut rows = Vec::new();
        let mut tps = 0.0;
        for (_, (r, t)) in ok {
            rows.extend(r);
            tps += t;
        }
        // Subscribed topics with no stats at all: list their queues with unknown lag.
        if let Some(c) = &conn {
            let present: BTreeSet<String> = rows.iter().map(|r| r.topic.clone()).collect();
            for topic in c
                .subscription_table
                .keys()
                .filter(|t| !present.contains(*t) && only_topic.is_none_or(|o| o == t.as_str()))
            {
                match self.topic_status_all(topic).await {
                    Ok(p) => {
                        for q in p.items {
                            rows.push(QueueProgress {
                                topic: topic.clone(),
                                broker_name: q.broker_name,
                                queue_id: q.queue_id,
                                broker_offset: q.max_offset,
                                consumer_offset: None,
                                lag: Lag::unknown("no committed consumer offset"),
                                client: None,
                                last_timestamp: None,
                            });
                        }
                        failures.extend(p.failures);
                    }
                    Err(e) => tracing::debug!(%topic, error = %e, "no status for subscribed topic"),
                }
            }
            // Expected assignment, for clustering consumers.
            if c.message_model != "BROADCASTING" {
                let mut clients: Vec<String> =
                    c.connection_set.iter().map(|x| x.client_id.clone()).collect();
                clients.sort();
                let topics: BTreeSet<String> = rows.iter().map(|r| r.topic.clone()).collect();
                for topic in topics {
                    let mut mqs: Vec<MessageQueue> = rows
                        .iter()
                        .filter(|r| r.topic == topic)
                        .map(|r| {
                            MessageQueue::new(r.topic.clone(), r.broker_name.clone(), r.queue_id)
                        })
                        .collect();
                    mqs.sort();
                    let alloc = allocate_averagely(&clients, &mqs);
                    for r in rows.iter_mut().filter(|r| r.topic == topic) {
                        r.client = alloc
                            .get(&MessageQueue::new(
                                r.topic.clone(),
                                r.broker_name.clone(),
                                r.queue_id,
                            ))
                            .cloned();
                    }
                }
            }
        }
        Ok(Gathered { rows, failures, tps, conn })
    }

    pub(super) async fn progress_of(
        &self,
        group: &str,
        only_topic: Option<&str>,
    ) -> BResult<Partial<Vec<QueueProgress>>> {
        let g = self.gather(group, only_topic).await?;
        Ok(Partial { items: g.rows, failures: g.failures })
    }

    pub(super) async fn stats_of(&self, group: &str) -> BResult<GroupStats> {
        let g = self.gather(group, None).await?;
        let lag = if g.failures.is_empty() {
            Lag::sum(g.rows.iter().map(|r| &r.lag))
        } else {
            Lag::unknown(format!("{} broker(s) failed", g.failures.len()))
        };
        Ok(GroupStats {
            members: g.conn.map(|c| c.connection_set.len() as u32),
            consume_tps: Some(g.tps),
            lag,
            failures: g.failures,
        })
    }

    async fn reset_topics(&self, group: &str, topic: Option<&str>) -> BResult<Vec<String>> {
        if let Some(t) = topic {
            return Ok(vec![t.to_string()]);
        }
        let g = self.gather(group, None).await?;
        let retry = system_topics::retry_topic(group);
        let topics: BTreeSet<String> =
            g.rows.into_iter().map(|r| r.topic).filter(|t| *t != retry).collect();
        if topics.is_empty() {
            return Err(BackendError::Invalid(format!(
                "group {group} has no subscribed topic with offsets; choose a topic"
            )));
        }
        Ok(topics.into_iter().collect())
    }

    pub(super) async fn preview_reset(
        &self,
        group: &str,
        topic: Option<&str>,
        ts: i64,
    ) -> BResult<Vec<ResetRow>> {
        let mut out = Vec::new();
        for topic in self.reset_topics(group, topic).await? {
            let (_, targets) = self.topic_masters(&topic).await?;
            let current: BTreeMap<(String, i32), Option<i64>> = self
                .gather(group, Some(&topic))
                .await
                .map(|g| {
                    g.rows
                        .into_iter()
                        .map(|r| ((r.broker_name, r.queue_id), r.consumer_offset))
                        .collect()
                })
                .unwrap_or_default();
            for t in &targets {
                let queues = self.topic_offsets(t, &topic).await?;
                for (mq, o) in queues {
                    let off = self
                        .admin()?
                        .api()
                        .search_offset(&t.addr, &mq, ts)
                        .await
                        .map_err(|e| broker_error(t, e))?;
                    out.push(ResetRow {
                        topic: topic.clone(),
                        broker_name: t.name.clone(),
                        queue_id: mq.queue_id,
                        current_offset: current
                            .get(&(t.name.clone(), mq.queue_id))
                            .copied()
                            .flatten(),
                        target_offset: off.clamp(o.min_offset, o.max_offset),
                        broker_offset: o.max_offset,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.topic, &a.broker_name, a.queue_id).cmp(&(&b.topic, &b.broker_name, b.queue_id))
        });
        Ok(out)
    }

    pub(super) async fn apply_reset(
        &self,
        group: &str,
        topic: Option<&str>,
        ts: i64,
    ) -> BResult<ResetApplied> {
        let rows = self.preview_reset(group, topic, ts).await?;
        let mut results = Vec::new();
        let mut methods = BTreeSet::new();
        let topics: BTreeSet<String> = rows.iter().map(|r| r.topic.clone()).collect();
        for topic in topics {
            let (_, targets) = self.topic_masters(&topic).await?;
            for t in &targets {
                // Preferred: the broker resets and tells online consumers (they would
                // otherwise overwrite a stored offset with their in-memory one).
                let h = ResetOffsetRequestHeader {
                    topic: topic.clone(),
                    group: group.to_string(),
                    timestamp: ts,
                    is_force: Some(true),
                    ..Default::default()
                };
                let r = self
                    .call_raw(
                        t,
                        RemotingCommand::request_with_header(
                            request::INVOKE_BROKER_TO_RESET_OFFSET,
                            &h,
                        ),
                    )
                    .await;
                let fallback = match &r {
                    Ok(c) if c.code == response::SUCCESS => {
                        methods.insert("broker-reset");
                        results.push(BrokerOpResult {
                            broker: t.name.clone(),
                            addr: t.addr.clone(),
                            ok: true,
                            error: None,
                        });
                        false
                    }
                    // No consumer online (or not supported): store the offsets directly.
                    Ok(c)
                        if c.code == response::CONSUMER_NOT_ONLINE
                            || c.code == response::REQUEST_CODE_NOT_SUPPORTED =>
                    {
                        true
                    }
                    Ok(c) => {
                        results.push(BrokerOpResult {
                            broker: t.name.clone(),
                            addr: t.addr.clone(),
                            ok: false,
                            error: Some(format!(
                                "response code {}: {}",
                                c.code,
                                c.remark.clone().unwrap_or_default()
                            )),
                        });
                        false
                    }
                    Err(e) => {
                        results.push(BrokerOpResult {
                            broker: t.name.clone(),
                            addr: t.addr.clone(),
                            ok: false,
                            error: Some(super::short_error(e)),
                        });
                        false
                    }
                };
                if fallback {
                    methods.insert("offset-update");
                    let mut err = None;
                    let api = self.admin()?.api();
                    for row in rows.iter().filter(|r| r.topic == topic && r.broker_name == t.name) {
                        let mq = MessageQueue::new(topic.clone(), t.name.clone(), row.queue_id);
                        if let Err(e) =
                            api.update_consumer_offset(&t.addr, group, &mq, row.target_offset).await
                        {
                            err = Some(e.to_string());
                            break;
                        }
                    }
                    results.push(BrokerOpResult {
                        broker: t.name.clone(),
                        addr: t.addr.clone(),
                        ok: err.is_none(),
                        error: err,
                    });
                }
            }
        }
        Ok(ResetApplied {
            rows,
            method: methods.into_iter().collect::<Vec<_>>().join("+"),
            results,
        })
    }

    pub(super) async fn group_create(&self, r: &GroupCreate) -> BResult<Vec<BrokerOpResult>> {
        if r.name.trim().is_empty() || r.name.len() > 255 || r.name.contains(['%', ' ', '|']) {
            return Err(BackendError::Invalid(
                "group name must be 1..255 characters without '%', '|' or spaces".into(),
            ));
        }
        let targets = self.masters(&r.brokers).await?;
        if targets.is_empty() {
            return Err(BackendError::Invalid(
                "no matching master broker registered on the nameserver".into(),
            ));
        }
        let mut cfg = SubscriptionGroupConfig::new(r.name.clone());
        cfg.consume_broadcast_enable = r.consume_broadcast_enable;
        cfg.consume_message_orderly = r.consume_orderly;
        cfg.retry_queue_nums = r.retry_queue_nums;
        cfg.retry_max_times = r.retry_max_times;
        Ok(op_results(self.admin()?.create_subscription_group_per_broker(targets, &cfg).await))
    }

    pub(super) async fn group_delete(&self, group: &str) -> BResult<Vec<BrokerOpResult>> {
        let targets = self.masters(&[]).await?;
        Ok(op_results(
            self.admin()?.delete_subscription_group_per_broker(targets, group, true).await,
        ))
    }

    pub(super) async fn producers(
        &self,
        group: &str,
        topic: &str,
    ) -> BResult<Partial<Vec<ProducerConn>>> {
        let (_, targets) = self.topic_masters(topic).await?;
        let (ok, failures) =
            answers(self.admin()?.producer_connection_per_broker(group, targets).await)?;
        let items = ok
            .into_iter()
            .flat_map(|(t, pc)| {
                pc.connection_set.into_iter().map(move |c| ProducerConn {
                    broker: t.name.clone(),
                    language: c.language,
                    version: version_name(c.version),
                    client_id: c.client_id,
                    client_addr: c.client_addr,
                })
            })
            .collect();
        Ok(Partial { items, failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averagely_matches_java() {
        let clients = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let mqs: Vec<MessageQueue> = (0..8).map(|i| MessageQueue::new("T", "b", i)).collect();
        let a = allocate_averagely(&clients, &mqs);
        let of = |c: &str| {
            a.iter().filter(|(_, v)| *v == c).map(|(k, _)| k.queue_id).collect::<Vec<_>>()
        };
        assert_eq!(of("a"), vec![0, 1, 2]);
        assert_eq!(of("b"), vec![3, 4, 5]);
        assert_eq!(of("c"), vec![6, 7]);
    }
}
