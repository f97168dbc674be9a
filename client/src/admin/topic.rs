//! Topic operations: create/update, delete, list, route, status.

use std::collections::{BTreeMap, BTreeSet};

use mq_common::protocol::body::{
    validate_topic, GroupList, MessageQueue, TopicConfig, TopicConfigSerializeWrapper, TopicList,
    TopicRouteData,
};
use mq_common::protocol::codes::request;
use mq_common::protocol::header::{
    CreateTopicRequestHeader, DeleteTopicFromNamesrvRequestHeader, TopicRequestHeader,
};
use mq_common::protocol::RemotingCommand;

use super::bodies::{parse_topic_stats, TopicOffset};
use super::partial::{fan_out, BrokerRef, PerBroker};
use super::{Admin, BrokerTarget};
use crate::api::parse_body;
use crate::error::{ClientError, Result};

impl Admin {
    /// UPDATE_AND_CREATE_TOPIC on each target broker; returns the addresses updated.
    pub async fn create_topic(
        &self,
        target: &BrokerTarget,
        tc: &TopicConfig,
    ) -> Result<Vec<String>> {
        let hdr = create_topic_header(tc)?;
        let mut done = Vec::new();
        for addr in self.resolve(target).await? {
            self.api
                .invoke_ok(
                    &addr,
                    RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &hdr),
                )
                .await?;
            done.push(addr);
        }
        Ok(done)
    }

    /// UPDATE_AND_CREATE_TOPIC on each of `brokers` concurrently, each outcome apart. Fails as
    /// a whole only on an invalid config (before any broker is called).
    pub async fn create_topic_per_broker(
        &self,
        brokers: Vec<BrokerRef>,
        tc: &TopicConfig,
    ) -> Result<PerBroker<()>> {
        let hdr = create_topic_header(tc)?;
        Ok(fan_out(brokers, |b| {
            let cmd = RemotingCommand::request_with_header(request::UPDATE_AND_CREATE_TOPIC, &hdr);
            async move { self.api.invoke_ok(&b.addr, cmd).await.map(drop) }
        })
        .await)
    }

    /// DELETE_TOPIC_IN_BROKER on each of `brokers` concurrently, each outcome apart (the
    /// nameservers are not touched: see [`Admin::delete_topic`]).
    pub async fn delete_topic_per_broker(
        &self,
        brokers: Vec<BrokerRef>,
        topic: &str,
    ) -> PerBroker<()> {
        let hdr = TopicRequestHeader { topic: topic.into() };
        fan_out(brokers, |b| {
            let cmd = RemotingCommand::request_with_header(request::DELETE_TOPIC_IN_BROKER, &hdr);
            async move { self.api.invoke_ok(&b.addr, cmd).await.map(drop) }
        })
        .await
    }

    /// GET_ALL_TOPIC_CONFIG of one broker: its topic table.
    pub async fn topic_configs_at(&self, addr: &str) -> Result<BTreeMap<String, TopicConfig>> {
        let w: TopicConfigSerializeWrapper =
            self.body_at(addr, RemotingCommand::request(request::GET_ALL_TOPIC_CONFIG)).await?;
        Ok(w.topic_config_table)
    }

    /// GET_ALL_TOPIC_CONFIG from each of `brokers` concurrently, each broker's topic table (or
    /// error) apart: the topic list of a cluster with a dead broker.
    pub async fn topic_configs_per_broker(
        &self,
        brokers: Vec<BrokerRef>,
    ) -> PerBroker<BTreeMap<String, TopicConfig>> {
        fan_out(brokers, |b| async move { self.topic_configs_at(&b.addr).await }).await
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO on every master of `topic` concurrently: the groups each
    /// broker knows to consume it (or its error). Fails as a whole only when the topic has no
    /// route.
    pub async fn topic_consumed_by_per_broker(
        &self,
        topic: &str,
    ) -> Result<PerBroker<BTreeSet<String>>> {
        let brokers = self.topic_masters(topic).await?;
        let hdr = TopicRequestHeader { topic: topic.into() };
        Ok(fan_out(brokers, |b| {
            let cmd =
                RemotingCommand::request_with_header(request::QUERY_TOPIC_CONSUME_BY_WHO, &hdr);
            async move {
                let resp = self.api.invoke_ok(&b.addr, cmd).await?;
                let g: GroupList = parse_body(&resp.body)?;
                Ok(g.group_list.into_iter().collect())
            }
        })
        .await)
    }

    /// Delete a topic from the masters of `cluster` (all clusters hosting it when `None`) and
    /// from every nameserver.
    pub async fn delete_topic(&self, topic: &str, cluster: Option<&str>) -> Result<()> {
        let info = self.cluster_info().await?;
        let masters = super::masters_of(&info, cluster);
        let hdr = TopicRequestHeader { topic: topic.into() };
        for addr in &masters {
            self.api
                .invoke_ok(
                    addr,
                    RemotingCommand::request_with_header(request::DELETE_TOPIC_IN_BROKER, &hdr),
                )
                .await?;
        }
        let nhdr = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.into(),
            cluster_name: cluster.map(Into::into),
        };
        for ns in self.api.namesrv_addrs().to_vec() {
            self.api
                .invoke_ok(
                    &ns,
                    RemotingCommand::request_with_header(request::DELETE_TOPIC_IN_NAMESRV, &nhdr),
                )
                .await?;
        }
        Ok(())
    }

    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER, sorted.
    pub async fn topic_list(&self) -> Result<Vec<String>> {
        let resp = self
            .api
            .namesrv_ok(RemotingCommand::request(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER))
            .await?;
        let mut l: TopicList = parse_body(&resp.body)?;
        l.topic_list.sort();
        Ok(l.topic_list)
    }

    /// GET_ROUTEINFO_BY_TOPIC (error if the topic does not exist).
    pub async fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        self.api.get_route(topic).await?.ok_or_else(|| ClientError::NoRoute(topic.to_string()))
    }

    /// GET_TOPIC_STATS_INFO from every master of the topic, merged; fails on the first broker
    /// error (see [`Admin::topic_status_per_broker`]).
    pub async fn topic_status(&self, topic: &str) -> Result<BTreeMap<MessageQueue, TopicOffset>> {
        let mut out = BTreeMap::new();
        for (_, queues) in self.topic_status_per_broker(topic).await?.into_result()? {
            out.extend(queues);
        }
        Ok(out)
    }

    /// GET_TOPIC_STATS_INFO from every master of the topic concurrently, each broker's queue
    /// offsets (or error) apart. Fails as a whole only when the topic has no route.
    pub async fn topic_status_per_broker(
        &self,
        topic: &str,
    ) -> Result<PerBroker<BTreeMap<MessageQueue, TopicOffset>>> {
        let brokers = self.topic_masters(topic).await?;
        Ok(fan_out(brokers, |b| async move { self.topic_stats_at(&b.addr, topic).await }).await)
    }

    /// GET_TOPIC_STATS_INFO of one broker: min/max offset and last update time per queue.
    pub async fn topic_stats_at(
        &self,
        addr: &str,
        topic: &str,
    ) -> Result<BTreeMap<MessageQueue, TopicOffset>> {
        let hdr = TopicRequestHeader { topic: topic.into() };
        let resp = self
            .api
            .invoke_ok(
                addr,
                RemotingCommand::request_with_header(request::GET_TOPIC_STATS_INFO, &hdr),
            )
            .await?;
        parse_topic_stats(&resp.body)
    }
}

/// The UPDATE_AND_CREATE_TOPIC header of a config, after checking the name and permission
/// (a broker would accept a bad name and then fail to route it).
fn create_topic_header(tc: &TopicConfig) -> Result<CreateTopicRequestHeader> {
    validate_topic(&tc.topic_name).map_err(ClientError::InvalidArgument)?;
    if !(0..8).contains(&tc.perm) {
        return Err(ClientError::InvalidArgument(format!("perm must be 0..7, got {}", tc.perm)));
    }
    Ok(CreateTopicRequestHeader {
        topic: tc.topic_name.clone(),
        default_topic: Some("TBW102".into()),
        read_queue_nums: tc.read_queue_nums,
        write_queue_nums: tc.write_queue_nums,
        perm: tc.perm,
        topic_filter_type: Some(tc.topic_filter_type.clone()),
        topic_sys_flag: Some(tc.topic_sys_flag),
        order: Some(tc.order),
        attributes: None,
        force: None,
    })
}
