//! Subscription groups, consumer progress, connections, offset resets.

use std::collections::{BTreeMap, BTreeSet};

use mq_common::protocol::body::{system_topics, MessageQueue, SubscriptionGroupConfig};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{
    ConsumerGroupRequestHeader, DeleteSubscriptionGroupRequestHeader, GetConsumeStatsRequestHeader,
    GetConsumerRunningInfoRequestHeader, ProducerGroupRequestHeader, ResetOffsetRequestHeader,
};
use mq_common::protocol::{body, RemotingCommand};

use super::bodies::{
    parse_consume_stats, parse_reset_offsets, ConsumerConnection, ProducerConnection,
};
use super::{Admin, BrokerTarget};
use crate::api::parse_body;
use crate::error::{ClientError, Result};

/// Progress of a group on one queue.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueProgress {
    /// The queue.
    pub queue: MessageQueue,
    /// Queue max offset.
    pub broker_offset: i64,
    /// Group's committed offset.
    pub consumer_offset: i64,
    /// Store time of the last consumed message (ms, 0 if unknown).
    pub last_timestamp: i64,
}

/// Progress of a group on every queue it consumes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerProgress {
    /// Per queue, sorted.
    pub queues: Vec<QueueProgress>,
    /// Consume TPS summed over brokers.
    pub consume_tps: f64,
}

impl ConsumerProgress {
    /// Messages not yet consumed, summed over queues.
    pub fn diff_total(&self) -> i64 {
        self.queues.iter().map(|q| (q.broker_offset - q.consumer_offset).max(0)).sum()
    }
}

impl Admin {
    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on each target broker.
    pub async fn create_subscription_group(
        &self,
        target: &BrokerTarget,
        cfg: &SubscriptionGroupConfig,
    ) -> Result<Vec<String>> {
        let mut done = Vec::new();
        for addr in self.resolve(target).await? {
            let cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(body::to_json(cfg));
            self.api.invoke_ok(&addr, cmd).await?;
            done.push(addr);
        }
        Ok(done)
    }

    /// DELETE_SUBSCRIPTIONGROUP on each target broker (optionally dropping its offsets).
    pub async fn delete_subscription_group(
        &self,
        target: &BrokerTarget,
        group: &str,
        clean_offset: bool,
    ) -> Result<Vec<String>> {
        let hdr = DeleteSubscriptionGroupRequestHeader {
            group_name: group.into(),
            clean_offset: Some(clean_offset),
        };
        let mut done = Vec::new();
        for addr in self.resolve(target).await? {
            self.api
                .invoke_ok(
                    &addr,
                    RemotingCommand::request_with_header(request::DELETE_SUBSCRIPTIONGROUP, &hdr),
                )
                .await?;
            done.push(addr);
        }
        Ok(done)
    }

    /// Every subscription group known to the masters (GET_ALL_SUBSCRIPTIONGROUP_CONFIG); fails
    /// on the first broker error (see [`Admin::subscription_groups_per_broker`]).
    pub async fn subscription_groups(&self) -> Result<BTreeMap<String, SubscriptionGroupConfig>> {
        let mut out = BTreeMap::new();
        for addr in self.master_addrs(None).await? {
            out.extend(self.subscription_groups_at(&addr).await?);
        }
        Ok(out)
    }

    /// Masters that know `group`: those hosting its retry topic, else every master.
    async fn group_brokers(&self, group: &str) -> Result<BTreeSet<String>> {
        if let Ok(Some(route)) = self.api.get_route(&system_topics::retry_topic(group)).await {
            let set: BTreeSet<String> = route
                .broker_datas
                .iter()
                .filter_map(|b| b.master_addr().map(str::to_string))
                .collect();
            if !set.is_empty() {
                return Ok(set);
            }
        }
        self.master_addrs(None).await
    }

    /// GET_CONSUME_STATS from every broker of the group, merged (optionally one topic).
    pub async fn consumer_progress(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumerProgress> {
        let hdr = GetConsumeStatsRequestHeader {
            consumer_group: group.into(),
            topic: topic.map(Into::into),
        };
        let mut progress = ConsumerProgress::default();
        let mut found = false;
        let mut last_err = None;
        for addr in self.group_brokers(group).await? {
            let resp = self
                .api
                .invoke(
                    &addr,
                    RemotingCommand::request_with_header(request::GET_CONSUME_STATS, &hdr),
                    self.api.timeout,
                )
                .await?;
            if resp.code != response::SUCCESS {
                last_err = Some(ClientError::from_response(&addr, &resp));
                continue;
            }
            found = true;
            let (table, tps) = parse_consume_stats(&resp.body)?;
            progress.consume_tps += tps;
            for (mq, o) in table {
                progress.queues.push(QueueProgress {
                    queue: mq,
                    broker_offset: o.broker_offset,
                    consumer_offset: o.consumer_offset,
                    last_timestamp: o.last_timestamp,
                });
            }
        }
        if !found {
            if let Some(e) = last_err {
                return Err(e);
            }
        }
        progress.queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(progress)
    }

    /// GET_CONSUMER_CONNECTION_LIST from the group's brokers (first that answers).
    pub async fn consumer_connection(&self, group: &str) -> Result<ConsumerConnection> {
        let hdr = ConsumerGroupRequestHeader { consumer_group: group.into() };
        let mut last = None;
        for addr in self.group_brokers(group).await? {
            match self
                .api
                .invoke_ok(
                    &addr,
                    RemotingCommand::request_with_header(
                        request::GET_CONSUMER_CONNECTION_LIST,
                        &hdr,
                    ),
                )
                .await
            {
                Ok(resp) => return parse_body(&resp.body),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            ClientError::InvalidArgument(format!("no broker knows group {group}"))
        }))
    }

    /// GET_PRODUCER_CONNECTION_LIST from the brokers of `topic`, merged.
    pub async fn producer_connection(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<ProducerConnection> {
        let route = self.topic_route(topic).await?;
        let hdr = ProducerGroupRequestHeader { producer_group: group.into() };
        let mut out = ProducerConnection::default();
        let mut last = None;
        let mut any = false;
        for bd in &route.broker_datas {
            let Some(addr) = bd.master_addr() else { continue };
            match self
                .api
                .invoke_ok(
                    addr,
                    RemotingCommand::request_with_header(
                        request::GET_PRODUCER_CONNECTION_LIST,
                        &hdr,
                    ),
                )
                .await
            {
                Ok(resp) => {
                    any = true;
                    let p: ProducerConnection = parse_body(&resp.body)?;
                    out.connection_set.extend(p.connection_set);
                }
                Err(e) => last = Some(e),
            }
        }
        match (any, last) {
            (false, Some(e)) => Err(e),
            _ => Ok(out),
        }
    }

    /// GET_CONSUMER_RUNNING_INFO of one member (relayed by a broker), as JSON.
    pub async fn consumer_running_info(
        &self,
        group: &str,
        client_id: &str,
    ) -> Result<serde_json::Value> {
        let hdr = GetConsumerRunningInfoRequestHeader {
            consumer_group: group.into(),
            client_id: client_id.into(),
            jstack_enable: Some(false),
        };
        let mut last = None;
        for addr in self.group_brokers(group).await? {
            match self
                .api
                .invoke_ok(
                    &addr,
                    RemotingCommand::request_with_header(request::GET_CONSUMER_RUNNING_INFO, &hdr),
                )
                .await
            {
                Ok(resp) => return parse_body(&resp.body),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            ClientError::InvalidArgument(format!("no broker knows group {group}"))
        }))
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO on the topic's brokers: groups consuming it, from the brokers
    /// that answered (see [`Admin::topic_consumed_by_per_broker`] for the failures).
    pub async fn topic_consumed_by(&self, topic: &str) -> Result<BTreeSet<String>> {
        let per = self.topic_consumed_by_per_broker(topic).await?;
        Ok(per.ok.into_iter().flat_map(|(_, groups)| groups).collect())
    }

    /// INVOKE_BROKER_TO_RESET_OFFSET on every broker of `topic`: move the group's offsets to the
    /// first message stored at/after `timestamp` (ms; -1 = the end). Online consumers are told by
    /// the broker. Returns the new offsets.
    pub async fn reset_offset_by_time(
        &self,
        group: &str,
        topic: &str,
        timestamp: i64,
        force: bool,
    ) -> Result<BTreeMap<MessageQueue, i64>> {
        let route = self.topic_route(topic).await?;
        let hdr = ResetOffsetRequestHeader {
            topic: topic.into(),
            group: group.into(),
            timestamp,
            is_force: Some(force),
            queue_id: None,
            offset: None,
        };
        let mut out = BTreeMap::new();
        for bd in &route.broker_datas {
            let Some(addr) = bd.master_addr() else { continue };
            let resp = self
                .api
                .invoke_ok(
                    addr,
                    RemotingCommand::request_with_header(
                        request::INVOKE_BROKER_TO_RESET_OFFSET,
                        &hdr,
                    ),
                )
                .await?;
            if !resp.body.is_empty() {
                out.extend(parse_reset_offsets(&resp.body)?);
            }
        }
        Ok(out)
    }
}
