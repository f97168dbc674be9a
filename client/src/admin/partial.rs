//! Per-broker results of admin calls that fan out to several brokers.
//!
//! Most `Admin` calls fail as a whole on the first broker error, which is right for a script
//! (`mqadmin` exits non-zero). A UI, or an operator looking at a half-dead cluster, wants the
//! answers of the live brokers next to the errors of the dead ones: the `*_per_broker`
//! methods return a [`PerBroker`], built by [`fan_out`] (every broker called concurrently,
//! each with the admin client's RPC timeout).

use std::future::Future;

use mq_common::protocol::body::ClusterInfo;

use crate::error::ClientError;

/// A broker a fan-out called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRef {
    /// Cluster of the broker.
    pub cluster: String,
    /// Broker name.
    pub name: String,
    /// Broker id within the name (0 = master, -1 when the id was not a number).
    pub id: i64,
    /// Address called.
    pub addr: String,
}

impl BrokerRef {
    /// Whether this is a master (id 0): the instance that takes writes and admin changes.
    pub fn is_master(&self) -> bool {
        self.id == 0
    }
}

/// The broker instances of a cluster table, sorted by (cluster, name, id); only the masters
/// when `masters_only`.
pub fn brokers_of(info: &ClusterInfo, masters_only: bool) -> Vec<BrokerRef> {
    let mut v: Vec<BrokerRef> = info
        .broker_addr_table
        .values()
        .flat_map(|bd| {
            bd.broker_addrs.iter().map(|(id, addr)| BrokerRef {
                cluster: bd.cluster.clone(),
                name: bd.broker_name.clone(),
                // The ids are JSON map keys ("0", "1"); a malformed one must never pass for
                // a master, since masters receive writes.
                id: id.parse().unwrap_or(-1),
                addr: addr.clone(),
            })
        })
        .filter(|b| !masters_only || b.is_master())
        .collect();
    v.sort_by(|a, b| (&a.cluster, &a.name, a.id).cmp(&(&b.cluster, &b.name, b.id)));
    v
}

/// One broker's failure in a fan-out.
#[derive(Debug)]
pub struct BrokerFailure {
    /// The broker.
    pub broker: BrokerRef,
    /// What went wrong.
    pub error: ClientError,
}

impl std::fmt::Display for BrokerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "broker {} ({}): {}", self.broker.name, self.broker.addr, self.error)
    }
}

/// The answers of the brokers that answered and the errors of those that did not.
#[derive(Debug)]
pub struct PerBroker<T> {
    /// Answers, in the order the brokers were given.
    pub ok: Vec<(BrokerRef, T)>,
    /// Failures, in the same order.
    pub failed: Vec<BrokerFailure>,
}

impl<T> PerBroker<T> {
    /// All answers, or the first failure (the whole-call semantics of the plain methods).
    pub fn into_result(mut self) -> Result<Vec<(BrokerRef, T)>, ClientError> {
        if self.failed.is_empty() {
            Ok(self.ok)
        } else {
            Err(self.failed.swap_remove(0).error)
        }
    }

    /// Whether some broker was called but none answered.
    pub fn all_failed(&self) -> bool {
        self.ok.is_empty() && !self.failed.is_empty()
    }
}

/// Run `f` on every broker concurrently and sort the outcomes into a [`PerBroker`].
pub async fn fan_out<T, F, Fut>(brokers: Vec<BrokerRef>, f: F) -> PerBroker<T>
where
    F: Fn(BrokerRef) -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let results = futures::future::join_all(brokers.into_iter().map(|b| {
        let fut = f(b.clone());
        async move { (b, fut.await) }
    }))
    .await;
    let mut out = PerBroker { ok: Vec::new(), failed: Vec::new() };
    for (broker, r) in results {
        match r {
            Ok(v) => out.ok.push((broker, v)),
            Err(error) => out.failed.push(BrokerFailure { broker, error }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: &str) -> BrokerRef {
        BrokerRef { cluster: "C".into(), name: n.into(), id: 0, addr: format!("{n}:1") }
    }

    #[tokio::test]
    async fn fan_out_keeps_answers_next_to_failures() {
        let r = fan_out(vec![b("a"), b("dead"), b("c")], |br| async move {
            if br.name == "dead" {
                Err(ClientError::BrokerNotFound(br.name))
            } else {
                Ok(br.name.len())
            }
        })
        .await;
        assert_eq!(
            r.ok.iter().map(|(b, n)| (b.name.as_str(), *n)).collect::<Vec<_>>(),
            vec![("a", 1), ("c", 1)]
        );
        assert_eq!(r.failed.len(), 1);
        assert!(r.failed[0].to_string().contains("broker dead (dead:1)"));
        assert!(!r.all_failed());
        assert!(r.into_result().is_err());
    }
}
