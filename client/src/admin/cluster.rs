//! Cluster, broker runtime/config and nameserver KV operations.

use std::collections::{BTreeMap, BTreeSet};

use mq_common::protocol::body::{ClusterInfo, KvTable};
use mq_common::protocol::codes::request;
use mq_common::protocol::header::{KvConfigKeyRequestHeader, PutKvConfigRequestHeader};
use mq_common::protocol::RemotingCommand;

use super::partial::{brokers_of, fan_out, BrokerRef, PerBroker};
use super::{masters_of, Admin};
use crate::api::parse_body;
use crate::error::{ClientError, Result};

/// Which brokers an admin write goes to (`-b addr` or `-c cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerTarget {
    /// One broker address.
    Addr(String),
    /// Every master of a cluster.
    Cluster(String),
}

impl Admin {
    /// GET_BROKER_CLUSTER_INFO.
    pub async fn cluster_info(&self) -> Result<ClusterInfo> {
        let resp =
            self.api.namesrv_ok(RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO)).await?;
        parse_body(&resp.body)
    }

    /// Every broker instance the nameserver lists (masters and slaves; only the masters when
    /// `masters_only`), sorted by cluster, name and id.
    pub async fn brokers(&self, masters_only: bool) -> Result<Vec<BrokerRef>> {
        Ok(brokers_of(&self.cluster_info().await?, masters_only))
    }

    /// GET_BROKER_RUNTIME_INFO from each of `brokers` concurrently, each broker's table (or
    /// error) apart: a dead broker never hides the others.
    pub async fn broker_runtime_info_per_broker(
        &self,
        brokers: Vec<BrokerRef>,
    ) -> PerBroker<BTreeMap<String, String>> {
        fan_out(brokers, |b| async move { self.broker_runtime_info(&b.addr).await }).await
    }

    /// Resolve a target to broker addresses (error if none).
    pub async fn resolve(&self, target: &BrokerTarget) -> Result<BTreeSet<String>> {
        let set = match target {
            BrokerTarget::Addr(a) => [a.clone()].into_iter().collect(),
            BrokerTarget::Cluster(c) => masters_of(&self.cluster_info().await?, Some(c)),
        };
        if set.is_empty() {
            return Err(ClientError::InvalidArgument(format!("no broker found for {target:?}")));
        }
        Ok(set)
    }

    /// GET_BROKER_RUNTIME_INFO: the broker's key/value status table.
    pub async fn broker_runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let t: KvTable =
            self.body_at(addr, RemotingCommand::request(request::GET_BROKER_RUNTIME_INFO)).await?;
        Ok(t.table)
    }

    /// GET_BROKER_CONFIG: `key=value` lines, parsed.
    pub async fn broker_config(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let resp =
            self.api.invoke_ok(addr, RemotingCommand::request(request::GET_BROKER_CONFIG)).await?;
        let text = String::from_utf8_lossy(&resp.body);
        // Java reads this body with Properties.load, so '=', ':' and whitespace all separate
        // key and value (Apache writes "k=v", rocketmq-rust writes "k:v"); parse it the same way.
        let entries = mq_common::config::parse_properties(&text).map_err(|e| {
            ClientError::BadResponse(format!("GET_BROKER_CONFIG body from {addr}: {e}"))
        })?;
        Ok(entries.into_iter().collect())
    }

    /// UPDATE_BROKER_CONFIG with one key. Returns the broker's remark (e.g. ignored keys).
    pub async fn update_broker_config(
        &self,
        addr: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<String>> {
        let cmd = RemotingCommand::request(request::UPDATE_BROKER_CONFIG)
            .with_body(format!("{key}={value}\n").into_bytes());
        let resp = self.api.invoke_ok(addr, cmd).await?;
        Ok(resp.remark.filter(|r| !r.is_empty()))
    }

    /// PUT_KV_CONFIG on every nameserver.
    pub async fn put_kv_config(&self, namespace: &str, key: &str, value: &str) -> Result<()> {
        let hdr = PutKvConfigRequestHeader {
            namespace: namespace.into(),
            key: key.into(),
            value: value.into(),
        };
        for ns in self.api.namesrv_addrs().to_vec() {
            self.api
                .invoke_ok(&ns, RemotingCommand::request_with_header(request::PUT_KV_CONFIG, &hdr))
                .await?;
        }
        Ok(())
    }

    /// DELETE_KV_CONFIG on every nameserver.
    pub async fn delete_kv_config(&self, namespace: &str, key: &str) -> Result<()> {
        let hdr = KvConfigKeyRequestHeader { namespace: namespace.into(), key: key.into() };
        for ns in self.api.namesrv_addrs().to_vec() {
            self.api
                .invoke_ok(
                    &ns,
                    RemotingCommand::request_with_header(request::DELETE_KV_CONFIG, &hdr),
                )
                .await?;
        }
        Ok(())
    }
}
