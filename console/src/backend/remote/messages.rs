//! Message queries: by time range (search offsets by timestamp, then pull without committing),
//! by key and by unique key (QUERY_MESSAGE on every master of the topic), by offset id
//! (VIEW_MESSAGE_BY_ID); consumption state per group; resend to a group; DLQ resend.

use std::collections::BTreeMap;

use bytes::Bytes;
use mq_client::admin::fan_out;
use mq_client::consumer::fetch::PullStatus;
use mq_client::ClientError;
use mq_common::message::{decode_all, decode_offset_msg_id, property, MessageExt};
use mq_common::protocol::body::{system_topics, MessageQueue};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{ConsumerSendMsgBackRequestHeader, ViewMessageRequestHeader};
use mq_common::protocol::RemotingCommand;

use super::{answers, broker_error, RemoteBackend, Target, TOOLS_GROUP};
use crate::backend::convert::{detail_of, sort_and_cap, summary_of};
use crate::backend::*;

/// Pull batch size.
const BATCH: i32 = 32;

/// Properties that belong to the broker/client machinery, not to the user's message; not copied
/// when a DLQ message is re-sent as a new message.
const SYSTEM_PROPS: &[&str] = &[
    property::UNIQ_KEY,
    property::RETRY_TOPIC,
    property::REAL_TOPIC,
    property::REAL_QID,
    property::DELAY,
    property::MIN_OFFSET,
    property::MAX_OFFSET,
    property::RECONSUME_TIME,
    property::MAX_RECONSUME_TIMES,
    property::ORIGIN_MESSAGE_ID,
    property::CONSUME_START_TIME,
    property::TRAN_MSG,
    property::PGROUP,
    property::WAIT,
    property::CLUSTER,
    property::DLQ_ORIGIN_TOPIC,
    property::DLQ_ORIGIN_MESSAGE_ID,
    property::TRAN_PREPARED_QUEUE_OFFSET,
];

fn bad(t: &Target, m: impl std::fmt::Display) -> BackendError {
    broker_error(t, m)
}

impl RemoteBackend {
    /// Pull `[from, to)` of one queue without committing anything.
    async fn pull_range(
        &self,
        t: &Target,
        mq: &MessageQueue,
        from: i64,
        to: i64,
    ) -> Result<Vec<MessageExt>, ClientError> {
        let mut out = Vec::new();
        let mut off = from;
        let admin = self.admin().map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        while off < to {
            let max = BATCH.min((to - off) as i32);
            let r = admin.pull_without_commit(&t.addr, mq, "*", TOOLS_GROUP, off, max).await?;
            let PullStatus::Found(msgs) = r.status else {
                break; // not found / moved / retry: nothing more in this range
            };
            if msgs.is_empty() {
                break;
            }
            let next = r.next_begin_offset;
            out.extend(msgs.into_iter().filter(|m| m.queue_offset < to));
            if next <= off {
                break;
            }
            off = next;
        }
        Ok(out)
    }

    pub(super) async fn by_time(
        &self,
        topic: &str,
        begin: i64,
        end: i64,
        limit: usize,
    ) -> BResult<MessageList> {
        let (_, targets) = self.topic_masters(topic).await?;
        let admin = self.admin()?;
        let per = fan_out(targets, |t| async move {
            let mut msgs = Vec::new();
            let mut truncated = false;
            for (mq, o) in admin.topic_stats_at(&t.addr, topic).await? {
                if o.max_offset <= o.min_offset {
                    continue;
                }
                // Stats may name the queue's broker; the pull goes to this one.
                let mq = MessageQueue::new(topic, t.name.clone(), mq.queue_id);
                // Broker search picks a neighbour, not a bound: widen by one and filter.
                let lo = (admin.api().search_offset(&t.addr, &mq, begin).await? - 1)
                    .clamp(o.min_offset, o.max_offset);
                let hi = (admin.api().search_offset(&t.addr, &mq, end).await? + 1)
                    .clamp(o.min_offset, o.max_offset);
                let start = lo.max(hi - limit as i64);
                truncated |= start > lo;
                let got = self.pull_range(&t, &mq, start, hi).await?;
                msgs.extend(
                    got.into_iter()
                        .filter(|m| m.store_timestamp >= begin && m.store_timestamp < end)
                        .map(|m| summary_of(&m, Some(&t.name))),
                );
            }
            Ok((msgs, truncated))
        })
        .await;
        let (ok, failures) = answers(per)?;
        let mut list = Vec::new();
        let mut truncated = false;
        for (_, (m, tr)) in ok {
            list.extend(m);
            truncated |= tr;
        }
        truncated |= sort_and_cap(&mut list, limit);
        Ok(MessageList { messages: list, truncated, limit, failures })
    }

    /// QUERY_MESSAGE on every master of `topic`, through `mq_client::Admin`'s per-broker
    /// fan-out: the live brokers' matches plus a failure per dead broker.
    async fn query_index(
        &self,
        topic: &str,
        key: &str,
        unique: bool,
        max: usize,
    ) -> BResult<(Vec<(Target, MessageExt)>, Vec<BrokerFailure>)> {
        let admin = self.admin()?;
        let per = if unique {
            admin.query_msg_by_unique_key_per_broker(topic, key, max as i32).await
        } else {
            admin.query_msg_by_key_per_broker(topic, key, max as i32, 0, i64::MAX).await
        }
        .map_err(|e| self.route_error(topic, e))?;
        let (ok, failures) = answers(per)?;
        let found = ok
            .into_iter()
            .flat_map(|(t, msgs)| msgs.into_iter().map(move |m| (t.clone(), m)))
            .collect();
        Ok((found, failures))
    }

    pub(super) async fn by_key(
        &self,
        topic: &str,
        key: &str,
        limit: usize,
    ) -> BResult<MessageList> {
        let (found, failures) = self.query_index(topic, key, false, limit).await?;
        // The index is a hash: keep only real matches.
        let mut list: Vec<MessageSummary> = found
            .iter()
            .filter(|(_, m)| m.topic == topic && m.keys().contains(&key))
            .map(|(t, m)| summary_of(m, Some(&t.name)))
            .collect();
        let truncated = sort_and_cap(&mut list, limit);
        Ok(MessageList { messages: list, truncated, limit, failures })
    }

    /// Find a message by client id (UNIQ_KEY) or offset id.
    async fn find(&self, topic: &str, id: &str) -> BResult<(Target, MessageExt)> {
        let mut last_err = None;
        match self.query_index(topic, id, true, 32).await {
            Ok((found, _)) => {
                if let Some((t, m)) = found
                    .into_iter()
                    .filter(|(_, m)| m.msg_id() == id)
                    .max_by_key(|(_, m)| m.store_timestamp)
                {
                    return Ok((t, m));
                }
            }
            Err(e @ BackendError::NotFound(_)) => return Err(e),
            Err(e) => last_err = Some(e),
        }
        if let Ok((addr, offset)) = decode_offset_msg_id(id) {
            // Only call brokers the nameserver knows.
            if let Some(t) = self.name_of_addr(&addr.to_string()).await {
                let h = ViewMessageRequestHeader { offset, topic: Some(topic.to_string()) };
                let r = self
                    .call_raw(
                        &t,
                        RemotingCommand::request_with_header(request::VIEW_MESSAGE_BY_ID, &h),
                    )
                    .await?;
                if r.code == response::SUCCESS {
                    if let Some(m) =
                        decode_all(&r.body, false).map_err(|e| bad(&t, e))?.into_iter().next()
                    {
                        return Ok((t, m));
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| {
            BackendError::NotFound(format!("message {id} not found in topic {topic}"))
        }))
    }

    pub(super) async fn detail(&self, topic: &str, id: &str) -> BResult<MessageDetail> {
        let (t, m) = self.find(topic, id).await?;
        let mut d = detail_of(&m, Some(&t.name));
        let api = self.admin()?.api();
        if let Ok((groups, _)) = self.groups_of_topic(&m.topic).await {
            let states = futures::future::join_all(groups.iter().map(|g| {
                let t = t.clone();
                let mq = MessageQueue::new(m.topic.clone(), t.name.clone(), m.queue_id);
                async move {
                    let state = match api.query_consumer_offset(&t.addr, g, &mq).await {
                        Ok(Some(o)) if o > m.queue_offset => ConsumeState::Consumed,
                        Ok(Some(o)) if o >= 0 => ConsumeState::NotConsumed,
                        Ok(_) => ConsumeState::Unknown { reason: "no committed offset".into() },
                        Err(e) => ConsumeState::Unknown { reason: e.to_string() },
                    };
                    GroupConsumeState { group: g.clone(), state }
                }
            }))
            .await;
            d.consumed_by = states;
        }
        Ok(d)
    }

    pub(super) async fn resend_group(
        &self,
        topic: &str,
        id: &str,
        group: &str,
    ) -> BResult<ResendResult> {
        let (t, m) = self.find(topic, id).await?;
        let h = ConsumerSendMsgBackRequestHeader {
            offset: m.commit_log_offset,
            group: group.to_string(),
            delay_level: 0,
            origin_msg_id: Some(m.msg_id().to_string()),
            origin_topic: Some(m.topic.clone()),
            unit_mode: Some(false),
            max_reconsume_times: None,
        };
        let retry = system_topics::retry_topic(group);
        let r = self
            .call_raw(&t, RemotingCommand::request_with_header(request::CONSUMER_SEND_MSG_BACK, &h))
            .await?;
        if r.code == response::SUCCESS {
            return Ok(ResendResult {
                msg_id: id.into(),
                ok: true,
                target: Some(format!("{retry} (via broker {}, after the retry delay)", t.name)),
                new_msg_id: None,
                error: None,
            });
        }
        if r.code != response::REQUEST_CODE_NOT_SUPPORTED {
            return Err(bad(
                &t,
                format!("response code {}: {}", r.code, r.remark.unwrap_or_default()),
            ));
        }
        // Fallback: a copy into the group's retry topic, which its consumers subscribe to.
        let mut props = user_props(&m);
        props.insert(property::RETRY_TOPIC.into(), m.topic.clone());
        props.insert(property::ORIGIN_MESSAGE_ID.into(), m.msg_id().to_string());
        let sent = self.send_raw(&retry, &props, body_of(&m)).await?;
        Ok(ResendResult {
            msg_id: id.into(),
            ok: true,
            target: Some(retry),
            new_msg_id: Some(sent.msg_id),
            error: None,
        })
    }

    pub(super) async fn resend_dlq(
        &self,
        group: &str,
        ids: &[String],
    ) -> BResult<Vec<ResendResult>> {
        let dlq = system_topics::dlq_topic(group);
        let mut out = Vec::new();
        for id in ids {
            let r = match self.find(&dlq, id).await {
                Ok((_, m)) => {
                    let target = m
                        .property(property::RETRY_TOPIC)
                        .or_else(|| m.property(property::DLQ_ORIGIN_TOPIC))
                        .unwrap_or("")
                        .to_string();
                    if target.is_empty() {
                        ResendResult {
                            msg_id: id.clone(),
                            ok: false,
                            target: None,
                            new_msg_id: None,
                            error: Some(
                                "message has no RETRY_TOPIC property: original topic unknown"
                                    .into(),
                            ),
                        }
                    } else {
                        let mut props = user_props(&m);
                        props.insert(property::ORIGIN_MESSAGE_ID.into(), m.msg_id().to_string());
                        match self.send_raw(&target, &props, body_of(&m)).await {
                            Ok(s) => ResendResult {
                                msg_id: id.clone(),
                                ok: true,
                                target: Some(target),
                                new_msg_id: Some(s.msg_id),
                                error: None,
                            },
                            Err(e) => ResendResult {
                                msg_id: id.clone(),
                                ok: false,
                                target: Some(target),
                                new_msg_id: None,
                                error: Some(e.to_string()),
                            },
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
}

fn user_props(m: &MessageExt) -> BTreeMap<String, String> {
    m.properties
        .iter()
        .filter(|(k, _)| {
            !SYSTEM_PROPS.contains(&k.as_str()) && !k.starts_with(property::TRANSIENT_PREFIX)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn body_of(m: &MessageExt) -> Bytes {
    m.body_uncompressed(4 * 1024 * 1024).unwrap_or_else(|_| m.body.clone())
}
