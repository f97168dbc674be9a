//! One master per group: a broker configured as a master refuses to start while the name
//! servers list a live master of the same `brokerName` at another address. This is what
//! makes promoting a slave safe to do by hand (`docs/replication.md`, "Promoting a slave"):
//! an operator who promotes while the old master still runs gets an error, not two masters.
//! Java has no such check.

use std::time::Duration;

use mq_common::protocol::body::ClusterInfo;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::{ClientConfig, RemotingClient};

use crate::config::BrokerConfig;

const TIMEOUT: Duration = Duration::from_secs(3);

/// `Err` naming the live master when one of the name servers lists another live master of
/// this broker's group. Unreachable name servers, and a listed master that does not accept
/// connections (killed, or partitioned away), do not block the start. `client` is the
/// broker's own outgoing configuration (TLS and credentials toward the name servers).
pub async fn check(cfg: &BrokerConfig, client: ClientConfig) -> Result<(), String> {
    if cfg.is_slave() {
        return Ok(());
    }
    let me = cfg.broker_addr();
    let client = RemotingClient::new(client);
    let mut found = None;
    for ns in cfg.namesrv_list() {
        let req = RemotingCommand::request(rq::GET_BROKER_CLUSTER_INFO);
        let Ok(r) = client.invoke(&ns, req, TIMEOUT).await else { continue };
        if r.code != response::SUCCESS {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&r.body) else { continue };
        let Ok(info) = lenient_json::from_str::<ClusterInfo>(text) else { continue };
        let other = info
            .broker_addr_table
            .get(&cfg.broker_name)
            .and_then(|b| b.broker_addrs.get("0"))
            .filter(|a| **a != me)
            .cloned();
        if let Some(a) = other {
            found = Some((ns, a));
            break;
        }
    }
    client.close_all();
    let Some((ns, addr)) = found else { return Ok(()) };
    let live = match addr.parse::<std::net::SocketAddr>() {
        Ok(sa) => tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(sa))
            .await
            .is_ok_and(|r| r.is_ok()),
        Err(_) => false,
    };
    if live {
        return Err(format!(
            "name server {ns} lists a live master of broker group '{}' at {addr}: refusing to \
             start as a second master (stop it first, or start this broker as a SLAVE with \
             brokerId > 0)",
            cfg.broker_name
        ));
    }
    tracing::warn!(namesrv = %ns, old_master = %addr, "the name server still lists a master of this group that does not answer; starting as master");
    Ok(())
}
