//! Message lookups: by id (offsetMsgId → VIEW_MESSAGE_BY_ID, else UNIQ_KEY → QUERY_MESSAGE),
//! by key (QUERY_MESSAGE on every master, merged), by queue offset (PULL_MESSAGE of one); and
//! sending a test message.

use mq_common::message::{decode_offset_msg_id, Message, MessageExt};
use mq_common::protocol::body::{MessageQueue, SubscriptionData};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{
    ConsumeMessageDirectlyRequestHeader, PullMessageRequestHeader, QueryMessageRequestHeader,
    ViewMessageRequestHeader, PULL_FLAG_SUBSCRIPTION,
};
use mq_common::protocol::RemotingCommand;

use super::partial::{fan_out, PerBroker};
use super::Admin;
use crate::consumer::fetch::{self, decode_records, PullResult, PullStatus};
use crate::error::{ClientError, Result};
use crate::producer::{Producer, SendResult};

/// The group tools pull as (Apache's tools use the same name); it never commits offsets.
pub const TOOLS_GROUP: &str = "TOOLS_CONSUMER";

/// A message found by a query, with the broker it came from.
#[derive(Debug, Clone)]
pub struct QueriedMessage {
    /// Broker name (or address when the name is unknown).
    pub broker: String,
    /// The message.
    pub message: MessageExt,
}

impl Admin {
    /// Look a message up by id. A 32/56-hex offsetMsgId is decoded into the broker address and
    /// commit-log offset (VIEW_MESSAGE_BY_ID); anything else (a client UNIQ_KEY) is searched in
    /// the index of `topic` (required then).
    pub async fn query_msg_by_id(
        &self,
        topic: Option<&str>,
        id: &str,
    ) -> Result<Vec<QueriedMessage>> {
        if let Ok((addr, offset)) = decode_offset_msg_id(id) {
            let hdr = ViewMessageRequestHeader { offset, topic: topic.map(Into::into) };
            let addr = addr.to_string();
            match self
                .api
                .invoke_ok(
                    &addr,
                    RemotingCommand::request_with_header(request::VIEW_MESSAGE_BY_ID, &hdr),
                )
                .await
            {
                Ok(resp) => {
                    let msgs = decode_records(&resp.body);
                    if !msgs.is_empty() {
                        return Ok(msgs
                            .into_iter()
                            .map(|m| QueriedMessage { broker: addr.clone(), message: m })
                            .collect());
                    }
                }
                Err(e) if topic.is_none() => return Err(e),
                Err(_) => {}
            }
        }
        let topic = topic.ok_or_else(|| {
            ClientError::InvalidArgument("a topic is needed to look up a UNIQ_KEY id".into())
        })?;
        let found = self.query(topic, id, 32, 0, i64::MAX, true).await?;
        Ok(found.into_iter().filter(|q| q.message.msg_id() == id).collect())
    }

    /// CONSUME_MESSAGE_DIRECTLY: ask one online consumer (via the broker storing the message,
    /// named by its offsetMsgId) to run its handler on the message now. Returns the client's
    /// `ConsumeMessageDirectlyResult` JSON.
    pub async fn consume_message_directly(
        &self,
        group: &str,
        client_id: &str,
        offset_msg_id: &str,
    ) -> Result<serde_json::Value> {
        let (addr, _) = decode_offset_msg_id(offset_msg_id)
            .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        let hdr = ConsumeMessageDirectlyRequestHeader {
            consumer_group: group.into(),
            client_id: Some(client_id.into()),
            msg_id: Some(offset_msg_id.into()),
            broker_name: None,
        };
        let resp = self
            .api
            .invoke_ok(
                &addr.to_string(),
                RemotingCommand::request_with_header(request::CONSUME_MESSAGE_DIRECTLY, &hdr),
            )
            .await?;
        crate::api::parse_body(&resp.body)
    }

    /// QUERY_MESSAGE by key on every master of `topic`, merged (newest first per broker order).
    /// Fails on the first broker error; see [`Admin::query_msg_by_key_per_broker`].
    pub async fn query_msg_by_key(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<QueriedMessage>> {
        self.query(topic, key, max, begin_ms, end_ms, false).await
    }

    /// QUERY_MESSAGE by key on every master of `topic` concurrently, each broker's matches (or
    /// error) apart. Fails as a whole only when the topic has no route.
    pub async fn query_msg_by_key_per_broker(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<PerBroker<Vec<MessageExt>>> {
        self.query_per_broker(topic, key, max, begin_ms, end_ms, false).await
    }

    /// QUERY_MESSAGE by client id (UNIQ_KEY) on every master of `topic` concurrently, like
    /// [`Admin::query_msg_by_key_per_broker`]; only messages whose id is `id` are kept.
    pub async fn query_msg_by_unique_key_per_broker(
        &self,
        topic: &str,
        id: &str,
        max: i32,
    ) -> Result<PerBroker<Vec<MessageExt>>> {
        let mut r = self.query_per_broker(topic, id, max, 0, i64::MAX, true).await?;
        for (_, msgs) in &mut r.ok {
            msgs.retain(|m| m.msg_id() == id);
        }
        Ok(r)
    }

    async fn query(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
        unique: bool,
    ) -> Result<Vec<QueriedMessage>> {
        let found = self
            .query_per_broker(topic, key, max, begin_ms, end_ms, unique)
            .await?
            .into_result()?;
        Ok(found
            .into_iter()
            .flat_map(|(b, msgs)| {
                msgs.into_iter().map(move |m| QueriedMessage { broker: b.name.clone(), message: m })
            })
            .collect())
    }

    /// The fan-out behind the key queries: the index is a hash, so only real matches of
    /// `key` (its KEYS, or its id) in `topic` are kept.
    async fn query_per_broker(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
        unique: bool,
    ) -> Result<PerBroker<Vec<MessageExt>>> {
        let brokers = self.topic_masters(topic).await?;
        let hdr = QueryMessageRequestHeader {
            topic: topic.into(),
            key: key.into(),
            max_num: max,
            begin_timestamp: begin_ms,
            end_timestamp: end_ms,
            unique_key_query: unique.then_some(true),
        };
        Ok(fan_out(brokers, |b| {
            let cmd = RemotingCommand::request_with_header(request::QUERY_MESSAGE, &hdr);
            async move {
                let resp = self.api.invoke(&b.addr, cmd, self.api.timeout).await?;
                match resp.code {
                    response::SUCCESS => Ok(decode_records(&resp.body)
                        .into_iter()
                        .filter(|m| {
                            m.topic == topic
                                && (unique || m.keys().contains(&key) || m.msg_id() == key)
                        })
                        .collect()),
                    response::QUERY_NOT_FOUND => Ok(Vec::new()),
                    _ => Err(ClientError::from_response(&b.addr, &resp)),
                }
            }
        })
        .await)
    }

    /// The message at `offset` of a queue (PULL_MESSAGE with max 1, group `TOOLS_CONSUMER`).
    pub async fn query_msg_by_offset(
        &self,
        mq: &MessageQueue,
        offset: i64,
    ) -> Result<Option<MessageExt>> {
        let route = self.topic_route(&mq.topic).await?;
        let addr = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == mq.broker_name)
            .and_then(|b| b.master_addr().map(str::to_string))
            .ok_or_else(|| ClientError::BrokerNotFound(mq.broker_name.clone()))?;
        let r = self.pull_without_commit(&addr, mq, "*", TOOLS_GROUP, offset, 1).await?;
        Ok(match r.status {
            PullStatus::Found(mut m) if !m.is_empty() => Some(m.remove(0)),
            _ => None,
        })
    }

    /// PULL_MESSAGE of up to `max` messages of `mq` from `offset` at broker `addr`, filtered by
    /// the tag expression `expr`, as `group`, without long polling and without committing an
    /// offset: a read for tools (browsing, state rebuilds), not a consumer.
    pub async fn pull_without_commit(
        &self,
        addr: &str,
        mq: &MessageQueue,
        expr: &str,
        group: &str,
        offset: i64,
        max: i32,
    ) -> Result<PullResult> {
        let sub = SubscriptionData::build(&mq.topic, expr, 0);
        let header = PullMessageRequestHeader {
            consumer_group: group.into(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            queue_offset: offset,
            max_msg_nums: max,
            sys_flag: PULL_FLAG_SUBSCRIPTION,
            commit_offset: Some(0),
            suspend_timeout_millis: Some(0),
            subscription: Some(sub.sub_string.clone()),
            sub_version: Some(0),
            expression_type: Some("TAG".into()),
            max_msg_bytes: None,
        };
        fetch::pull(&self.api, addr, &header, self.api.timeout, &sub, group).await
    }

    /// Send one message with a short-lived producer (group `TOOLS_PRODUCER`), optionally to a
    /// given broker/queue.
    pub async fn send_message(
        &self,
        msg: Message,
        queue: Option<MessageQueue>,
    ) -> Result<SendResult> {
        let producer = Producer::builder()
            .namesrv_addr(&self.api.namesrv_addrs().join(";"))
            .group("TOOLS_PRODUCER")
            .start()
            .await?;
        let r = match queue {
            Some(q) => producer.send_to_queue(msg, &q).await,
            None => producer.send(msg).await,
        };
        producer.shutdown().await;
        r
    }
}
