//! Registration with the nameservers (spec §5.2): REGISTER_BROKER to every address in
//! `namesrvAddr` at start, every `registerNameServerPeriod`, and at once when topics change;
//! UNREGISTER_BROKER on clean shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mq_common::message::crc32_masked;
use mq_common::protocol::body::{to_json, RegisterBrokerBody, PERM_READ, PERM_WRITE};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use mq_common::protocol::CommandHeader;
use mq_common::protocol::RemotingCommand;

use crate::broker::Broker;

const REGISTER_TIMEOUT: Duration = Duration::from_secs(6);

fn register_request(b: &Broker) -> RemotingCommand {
    let mut wrapper = b.topics.wrapper();
    let perm = b.perm.load(Ordering::Relaxed);
    // A broker that lost read or write permission advertises it on every topic.
    if perm & (PERM_READ | PERM_WRITE) != (PERM_READ | PERM_WRITE) {
        for t in wrapper.topic_config_table.values_mut() {
            t.perm &= perm;
        }
    }
    // The 5.x wrapper (empty static-topic mappings): strict 5.x name servers require it.
    let body = to_json(&RegisterBrokerBody {
        topic_config_serialize_wrapper: wrapper.with_empty_mappings(),
        filter_server_list: vec![],
    });
    let hdr = RegisterBrokerRequestHeader {
        broker_name: b.cfg.broker_name.clone(),
        broker_addr: b.cfg.broker_addr(),
        cluster_name: b.cfg.broker_cluster_name.clone(),
        ha_server_addr: format!("{}:{}", b.cfg.broker_ip2, b.cfg.ha_listen_port),
        broker_id: b.cfg.broker_id,
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
        compressed: Some(false),
        body_crc32: Some(crc32_masked(&body)),
    };
    RemotingCommand::request_with_header(rq::REGISTER_BROKER, &hdr).with_body(body)
}

/// Register with every nameserver once (concurrently); returns how many accepted.
pub async fn register_all(b: &Broker) -> usize {
    let addrs = b.cfg.namesrv_list();
    if addrs.is_empty() {
        return 0;
    }
    let req = register_request(b);
    let calls = addrs.iter().map(|a| {
        let req = req.clone();
        async move {
            match b.client.invoke(a, req, REGISTER_TIMEOUT).await {
                Ok(r) if r.code == response::SUCCESS => {
                    if b.cfg.is_slave() {
                        // §1.6: the answer names the live master of this brokerName.
                        let h = RegisterBrokerResponseHeader::read(&r.ext_fields).ok();
                        let (ha, master) = h.map(|h| (h.ha_server_addr, h.master_addr)).unwrap_or_default();
                        b.ha.set_master(ha, master);
                    }
                    true
                }
                Ok(r) => {
                    tracing::warn!(namesrv = %a, code = r.code, remark = ?r.remark, "register broker refused");
                    false
                }
                Err(e) => {
                    tracing::warn!(namesrv = %a, error = %e, "register broker failed");
                    false
                }
            }
        }
    });
    futures::future::join_all(calls).await.into_iter().filter(|ok| *ok).count()
}

/// Unregister from every nameserver (clean shutdown).
pub async fn unregister_all(b: &Broker) {
    let hdr = UnregisterBrokerRequestHeader {
        broker_name: b.cfg.broker_name.clone(),
        broker_addr: b.cfg.broker_addr(),
        cluster_name: b.cfg.broker_cluster_name.clone(),
        broker_id: b.cfg.broker_id,
    };
    let calls = b.cfg.namesrv_list().into_iter().map(|a| {
        let req = RemotingCommand::request_with_header(rq::UNREGISTER_BROKER, &hdr);
        async move {
            if let Err(e) = b.client.invoke(&a, req, Duration::from_secs(3)).await {
                tracing::warn!(namesrv = %a, error = %e, "unregister broker failed");
            }
        }
    });
    futures::future::join_all(calls).await;
}

/// The registration task: periodic + on topic change.
pub async fn run(b: Arc<Broker>) {
    let period = Duration::from_millis(b.cfg.register_name_server_period.clamp(1000, 60_000));
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
            _ = b.topics.changed.notified() => {}
        }
        if b.shutdown.is_cancelled() {
            return;
        }
        register_all(&b).await;
    }
}
