//! A slave's metadata follows its master (Java's SlaveSynchronize, docs/ha-protocol.md §7):
//! first 3 s after start, then every 10 s (`haMetadataSyncInterval`, an rmq key for tests),
//! against the master's remoting address learned from the name servers. Four plain requests,
//! no header fields: topics (21), consumer offsets (43), delay offsets (45), groups (201).

use std::sync::Arc;
use std::time::Duration;

use mq_common::protocol::body::{SubscriptionGroupWrapper, TopicConfigSerializeWrapper};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::{lenient_json, RemotingCommand};

use crate::broker::Broker;

const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Sync until shutdown (a SLAVE only).
pub async fn run(b: Arc<Broker>) {
    let every = Duration::from_millis(b.cfg.ha.metadata_sync_interval.max(100));
    let mut wait = every.min(Duration::from_secs(3));
    loop {
        if !b.ha.pause(wait).await {
            return;
        }
        wait = every;
        if !b.is_slave() {
            continue; // controller mode, while the master
        }
        let Some(master) = b.ha.master().broker_addr else { continue };
        if master == b.cfg.broker_addr() {
            continue;
        }
        if let Err(e) = sync_once(&b, &master).await {
            tracing::warn!(master = %master, error = %e, "metadata sync from the master failed");
        }
    }
}

async fn fetch(b: &Broker, master: &str, code: i32) -> Result<bytes::Bytes, String> {
    let r = b
        .client
        .invoke(master, RemotingCommand::request(code), CALL_TIMEOUT)
        .await
        .map_err(|e| format!("request {code}: {e}"))?;
    if r.code != response::SUCCESS {
        return Err(format!("request {code}: code {} {:?}", r.code, r.remark));
    }
    Ok(r.body)
}

fn text(body: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(body).map_err(|e| e.to_string())
}

/// One round of the four syncs (each independent of the others' failures).
pub async fn sync_once(b: &Broker, master: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    match fetch(b, master, rq::GET_ALL_TOPIC_CONFIG).await.and_then(|body| {
        lenient_json::from_str::<TopicConfigSerializeWrapper>(text(&body)?)
            .map_err(|e| e.to_string())
    }) {
        Ok(w) => {
            if b.topics.follow_master(w) {
                tracing::info!(master, "topic configs synced from the master");
            }
        }
        Err(e) => errors.push(format!("topics: {e}")),
    }
    if let Err(e) = fetch(b, master, rq::GET_ALL_CONSUMER_OFFSET)
        .await
        .and_then(|body| b.offsets.follow_master(&body))
    {
        errors.push(format!("consumer offsets: {e}"));
    }
    if let Err(e) = fetch(b, master, rq::GET_ALL_DELAY_OFFSET)
        .await
        .and_then(|body| b.schedule.follow_master(&body))
    {
        errors.push(format!("delay offsets: {e}"));
    }
    match fetch(b, master, rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await.and_then(|body| {
        lenient_json::from_str::<SubscriptionGroupWrapper>(text(&body)?).map_err(|e| e.to_string())
    }) {
        Ok(w) => {
            b.groups.follow_master(w);
        }
        Err(e) => errors.push(format!("subscription groups: {e}")),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
