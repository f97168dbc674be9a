//! Registration with the nameservers (spec §5.2): REGISTER_BROKER to every address in
//! `namesrvAddr` at start, every `registerNameServerPeriod`, at once when topics change, and
//! at once when a name server closes the registration connection (it does when it expires
//! the broker, e.g. after the broker was paused: issue 16, B8); UNREGISTER_BROKER on clean
//! shutdown. A registration that fails on an existing connection is retried at once on a new
//! one (the old one may be dead without the broker having noticed yet).

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
        broker_id: b.ha.namesrv_broker_id(b.cfg.broker_id),
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
        compressed: Some(false),
        body_crc32: Some(crc32_masked(&body)),
    };
    RemotingCommand::request_with_header(rq::REGISTER_BROKER, &hdr).with_body(body)
}

/// Register with every nameserver once (concurrently); returns the addresses that accepted.
pub async fn register_each(b: &Broker) -> Vec<String> {
    let addrs = b.cfg.namesrv_list();
    if addrs.is_empty() {
        return Vec::new();
    }
    let req = register_request(b);
    let calls = addrs.iter().map(|a| register_one(b, a, req.clone()));
    let accepted = futures::future::join_all(calls).await;
    addrs.into_iter().zip(accepted).filter_map(|(a, ok)| ok.then_some(a)).collect()
}

/// Register with one name server; a transport failure on a connection that existed before
/// the call is retried once, at once, on a new connection.
async fn register_one(b: &Broker, addr: &str, req: RemotingCommand) -> bool {
    let reused = b.client.connection(addr).is_some();
    let mut result = b.client.invoke(addr, req.clone(), REGISTER_TIMEOUT).await;
    if let (Err(e), true) = (&result, reused) {
        tracing::info!(namesrv = %addr, error = %e, "register broker failed on an existing connection; retrying on a new one");
        b.client.close_channel(addr);
        result = b.client.invoke(addr, req, REGISTER_TIMEOUT).await;
    }
    match result {
        Ok(r) if r.code == response::SUCCESS => {
            if b.cfg.is_slave() && !b.ha.controller_mode() {
                // docs/ha-protocol.md §6: the answer names the live master of this brokerName.
                let h = RegisterBrokerResponseHeader::read(&r.ext_fields).ok();
                let (ha, master) = h.map(|h| (h.ha_server_addr, h.master_addr)).unwrap_or_default();
                b.ha.set_master(ha, master);
            }
            true
        }
        Ok(r) => {
            tracing::warn!(namesrv = %addr, code = r.code, remark = ?r.remark, "register broker refused");
            false
        }
        Err(e) => {
            tracing::warn!(namesrv = %addr, error = %e, "register broker failed");
            false
        }
    }
}

/// Completes when the connection to any of `registered` (the name servers that accepted the
/// last registration) closes, at once if one is already gone (it may have closed while the
/// previous registration was under way); never if `registered` is empty (the periodic
/// registration retries the others).
async fn any_connection_closed(b: &Broker, registered: &[String]) {
    let mut closes = Vec::with_capacity(registered.len());
    for a in registered {
        match b.client.connection(a) {
            Some(ch) => closes.push(Box::pin(async move { ch.closed().await })),
            None => return,
        }
    }
    if closes.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(closes).await;
}

/// Unregister from every nameserver (clean shutdown).
pub async fn unregister_all(b: &Broker) {
    let hdr = UnregisterBrokerRequestHeader {
        broker_name: b.cfg.broker_name.clone(),
        broker_addr: b.cfg.broker_addr(),
        cluster_name: b.cfg.broker_cluster_name.clone(),
        broker_id: b.ha.namesrv_broker_id(b.cfg.broker_id),
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

/// The registration task: periodic, on topic change, and when a name server drops the
/// registration connection. `registered`: the name servers that accepted the registration
/// made at start (the broker may have been paused since, its connections closed).
pub async fn run(b: Arc<Broker>, mut registered: Vec<String>) {
    let period = Duration::from_millis(b.cfg.register_name_server_period.clamp(1000, 60_000));
    // At most one close-triggered registration per second: a name server that closes every
    // connection at once must not make this a busy loop.
    let mut last_reconnect = tokio::time::Instant::now() - Duration::from_secs(1);
    // Controller mode: a new role or master is advertised at once (routes change). Armed
    // before each registration, so a change made while one is under way is not missed.
    let mut role_changed = Box::pin(b.ha.role_changed());
    role_changed.as_mut().enable();
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
            _ = b.topics.changed.notified() => {}
            _ = role_changed.as_mut() => {}
            _ = any_connection_closed(&b, &registered) => {
                tracing::info!("a name-server connection closed; registering again");
                tokio::time::sleep_until(last_reconnect + Duration::from_secs(1)).await;
                last_reconnect = tokio::time::Instant::now();
            }
        }
        if b.shutdown.is_cancelled() {
            return;
        }
        role_changed = Box::pin(b.ha.role_changed());
        role_changed.as_mut().enable();
        registered = register_each(&b).await;
    }
}
