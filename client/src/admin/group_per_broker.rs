//! Consumer/producer group calls on explicit brokers, one answer (or error) per broker: what a
//! dashboard needs to show the live brokers' figures next to the dead ones' errors.

use std::collections::BTreeMap;

use mq_common::protocol::body::{
    to_json, ConsumeStats, ConsumerConnection, ProducerConnection, SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{
    ConsumerGroupRequestHeader, DeleteSubscriptionGroupRequestHeader, GetConsumeStatsRequestHeader,
    ProducerGroupRequestHeader,
};
use mq_common::protocol::RemotingCommand;

use super::partial::{fan_out, BrokerRef, PerBroker};
use super::Admin;
use crate::api::parse_body;
use crate::error::{ClientError, Result};

impl Admin {
    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG of one broker: its subscription group table.
    pub async fn subscription_groups_at(
        &self,
        addr: &str,
    ) -> Result<BTreeMap<String, SubscriptionGroupConfig>> {
        let w: SubscriptionGroupWrapper = self
            .body_at(addr, RemotingCommand::request(request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG))
            .await?;
        Ok(w.subscription_group_table)
    }

    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG from each of `brokers` concurrently, each table (or
    /// error) apart.
    pub async fn subscription_groups_per_broker(
        &self,
        brokers: Vec<BrokerRef>,
    ) -> PerBroker<BTreeMap<String, SubscriptionGroupConfig>> {
        fan_out(brokers, |b| async move { self.subscription_groups_at(&b.addr).await }).await
    }

    /// GET_CONSUMER_CONNECTION_LIST of one broker; `None` when no member of `group` is
    /// connected to it (CONSUMER_NOT_ONLINE, an answer rather than a failure).
    pub async fn consumer_connection_at(
        &self,
        addr: &str,
        group: &str,
    ) -> Result<Option<ConsumerConnection>> {
        let hdr = ConsumerGroupRequestHeader { consumer_group: group.into() };
        let resp = self
            .api
            .invoke(
                addr,
                RemotingCommand::request_with_header(request::GET_CONSUMER_CONNECTION_LIST, &hdr),
                self.api.timeout,
            )
            .await?;
        match resp.code {
            response::SUCCESS => parse_body(&resp.body).map(Some),
            response::CONSUMER_NOT_ONLINE => Ok(None),
            _ => Err(ClientError::from_response(addr, &resp)),
        }
    }

    /// [`Admin::consumer_connection_at`] on each of `brokers` concurrently.
    pub async fn consumer_connection_per_broker(
        &self,
        group: &str,
        brokers: Vec<BrokerRef>,
    ) -> PerBroker<Option<ConsumerConnection>> {
        fan_out(brokers, |b| async move { self.consumer_connection_at(&b.addr, group).await }).await
    }

    /// GET_CONSUME_STATS of one broker (optionally one topic). A broker that has nothing of the
    /// group (no such group, no consumer online, no such topic) answers empty stats: the group
    /// simply does not live there, which is not a failure of the broker.
    pub async fn consume_stats_at(
        &self,
        addr: &str,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats> {
        let hdr = GetConsumeStatsRequestHeader {
            consumer_group: group.into(),
            topic: topic.map(Into::into),
        };
        let resp = self
            .api
            .invoke(
                addr,
                RemotingCommand::request_with_header(request::GET_CONSUME_STATS, &hdr),
                self.api.timeout,
            )
            .await?;
        match resp.code {
            response::SUCCESS => ConsumeStats::parse(&resp.body).map_err(ClientError::BadResponse),
            response::SUBSCRIPTION_GROUP_NOT_EXIST
            | response::CONSUMER_NOT_ONLINE
            | response::TOPIC_NOT_EXIST => Ok(ConsumeStats::default()),
            _ => Err(ClientError::from_response(addr, &resp)),
        }
    }

    /// [`Admin::consume_stats_at`] on each of `brokers` concurrently.
    pub async fn consume_stats_per_broker(
        &self,
        group: &str,
        topic: Option<&str>,
        brokers: Vec<BrokerRef>,
    ) -> PerBroker<ConsumeStats> {
        fan_out(brokers, |b| async move { self.consume_stats_at(&b.addr, group, topic).await })
            .await
    }

    /// GET_PRODUCER_CONNECTION_LIST of one broker; empty when no producer of `group` is
    /// connected (Java answers SYSTEM_ERROR "the producer group not exist" for that).
    pub async fn producer_connection_at(
        &self,
        addr: &str,
        group: &str,
    ) -> Result<ProducerConnection> {
        let hdr = ProducerGroupRequestHeader { producer_group: group.into() };
        let resp = self
            .api
            .invoke(
                addr,
                RemotingCommand::request_with_header(request::GET_PRODUCER_CONNECTION_LIST, &hdr),
                self.api.timeout,
            )
            .await?;
        match resp.code {
            response::SUCCESS => parse_body(&resp.body),
            response::SYSTEM_ERROR
                if resp.remark.as_deref().unwrap_or("").contains("not exist") =>
            {
                Ok(ProducerConnection::default())
            }
            _ => Err(ClientError::from_response(addr, &resp)),
        }
    }

    /// [`Admin::producer_connection_at`] on each of `brokers` concurrently.
    pub async fn producer_connection_per_broker(
        &self,
        group: &str,
        brokers: Vec<BrokerRef>,
    ) -> PerBroker<ProducerConnection> {
        fan_out(brokers, |b| async move { self.producer_connection_at(&b.addr, group).await }).await
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on each of `brokers` concurrently, each outcome apart.
    pub async fn create_subscription_group_per_broker(
        &self,
        brokers: Vec<BrokerRef>,
        cfg: &SubscriptionGroupConfig,
    ) -> PerBroker<()> {
        let body = to_json(cfg);
        fan_out(brokers, |b| {
            let cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(body.clone());
            async move { self.api.invoke_ok(&b.addr, cmd).await.map(drop) }
        })
        .await
    }

    /// DELETE_SUBSCRIPTIONGROUP on each of `brokers` concurrently (optionally dropping the
    /// group's offsets), each outcome apart.
    pub async fn delete_subscription_group_per_broker(
        &self,
        brokers: Vec<BrokerRef>,
        group: &str,
        clean_offset: bool,
    ) -> PerBroker<()> {
        let hdr = DeleteSubscriptionGroupRequestHeader {
            group_name: group.into(),
            clean_offset: Some(clean_offset),
        };
        fan_out(brokers, |b| {
            let cmd = RemotingCommand::request_with_header(request::DELETE_SUBSCRIPTIONGROUP, &hdr);
            async move { self.api.invoke_ok(&b.addr, cmd).await.map(drop) }
        })
        .await
    }
}
