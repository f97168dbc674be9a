//! The admin API behind `mqadmin` (and the web console): topics, clusters, brokers,
//! subscription groups, consumer progress and connections, message queries, offset resets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mq_client::ClientError> {
//! let admin = mq_client::Admin::connect("127.0.0.1:9876").await?;
//! for t in admin.topic_list().await? {
//!     println!("{t}");
//! }
//! # Ok(()) }
//! ```

pub mod bodies;
mod cluster;
pub mod controller;
mod group;
mod group_per_broker;
mod message;
mod partial;
mod topic;

use std::collections::BTreeSet;
use std::time::Duration;

use mq_common::protocol::body::ClusterInfo;
use mq_common::protocol::RemotingCommand;

pub use cluster::BrokerTarget;
pub use group::{ConsumerProgress, QueueProgress};
pub use message::{QueriedMessage, TOOLS_GROUP};
pub use partial::{brokers_of, fan_out, BrokerFailure, BrokerRef, PerBroker};

use crate::api::ClientApi;
use crate::error::{ClientError, Result};
use crate::options::{env_credentials, env_tls, parse_namesrv_addrs};
use mq_common::acl::Credentials;
use mq_common::remoting::TlsClient;

/// Admin client: stateless requests to nameservers and brokers.
#[derive(Clone)]
pub struct Admin {
    api: ClientApi,
}

impl Admin {
    /// An admin client for the `;`-separated nameserver list (3 s RPC timeout).
    pub async fn connect(namesrv: &str) -> Result<Admin> {
        Self::with_timeout(namesrv, Duration::from_secs(3)).await
    }

    /// An admin client with a custom RPC timeout.
    pub async fn with_timeout(namesrv: &str, timeout: Duration) -> Result<Admin> {
        Self::new(parse_namesrv_addrs(namesrv), timeout)
    }

    /// An admin client over these nameserver addresses; `timeout` bounds every RPC. Nothing
    /// is connected yet (connections open on first use), so this is not async. Requests are
    /// signed with `RMQ_ACCESS_KEY` / `RMQ_SECRET_KEY` when both are set, and use TLS when
    /// `RMQ_TLS_CA` is set.
    pub fn new(namesrv_addrs: Vec<String>, timeout: Duration) -> Result<Admin> {
        Self::with_security(namesrv_addrs, timeout, env_credentials(), env_tls())
    }

    /// [`Admin::new`] signing every request with `credentials` (ACL 1.0; an admin account
    /// for the requests that change topics, groups, offsets or settings).
    pub fn with_credentials(
        namesrv_addrs: Vec<String>,
        timeout: Duration,
        credentials: Option<Credentials>,
    ) -> Result<Admin> {
        Self::with_security(namesrv_addrs, timeout, credentials, env_tls())
    }

    /// [`Admin::with_credentials`] with explicit TLS (`None`: plaintext).
    pub fn with_security(
        namesrv_addrs: Vec<String>,
        timeout: Duration,
        credentials: Option<Credentials>,
        tls: Option<TlsClient>,
    ) -> Result<Admin> {
        if namesrv_addrs.is_empty() {
            return Err(ClientError::InvalidArgument(
                "no nameserver address (use -n or NAMESRV_ADDR)".into(),
            ));
        }
        Ok(Admin { api: ClientApi::new(namesrv_addrs, timeout, credentials, tls) })
    }

    /// The RPC layer (for requests not wrapped here).
    pub fn api(&self) -> &ClientApi {
        &self.api
    }

    /// Master addresses of a cluster (`None`: every cluster).
    pub async fn master_addrs(&self, cluster: Option<&str>) -> Result<BTreeSet<String>> {
        let info = self.cluster_info().await?;
        Ok(masters_of(&info, cluster))
    }

    /// The masters of the brokers hosting `topic`, from its route.
    pub async fn topic_masters(&self, topic: &str) -> Result<Vec<BrokerRef>> {
        let route = self.topic_route(topic).await?;
        Ok(route
            .broker_datas
            .iter()
            .filter_map(|bd| {
                bd.master_addr().map(|a| BrokerRef {
                    cluster: bd.cluster.clone(),
                    name: bd.broker_name.clone(),
                    id: 0,
                    addr: a.to_string(),
                })
            })
            .collect())
    }

    /// Send `cmd` to `addr`, require SUCCESS and parse the (possibly fastjson) JSON body: the
    /// shape of every "give me your table" request.
    pub(crate) async fn body_at<T: serde::de::DeserializeOwned>(
        &self,
        addr: &str,
        cmd: RemotingCommand,
    ) -> Result<T> {
        let resp = self.api.invoke_ok(addr, cmd).await?;
        crate::api::parse_body(&resp.body)
    }

    /// Close connections.
    pub fn close(&self) {
        self.api.remoting().close_all();
    }
}

/// Masters of `cluster` (or all) in a cluster table.
pub(crate) fn masters_of(info: &ClusterInfo, cluster: Option<&str>) -> BTreeSet<String> {
    let names: Vec<&String> = match cluster {
        Some(c) => info.cluster_addr_table.get(c).map(|s| s.iter().collect()).unwrap_or_default(),
        None => info.broker_addr_table.keys().collect(),
    };
    names
        .into_iter()
        .filter_map(|n| info.broker_addr_table.get(n)?.master_addr().map(str::to_string))
        .collect()
}
