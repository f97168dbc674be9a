//! Transaction state checker (spec §8.2): half messages that got no END_TRANSACTION within
//! `transactionTimeOut` are re-appended (to advance the scan, with TRANSACTION_CHECK_TIMES+1)
//! and the producer group is asked with CHECK_TRANSACTION_STATE (oneway); after
//! `transactionCheckMax` checks a half message is discarded. Runs every
//! `transactionCheckInterval`. Op records (tag `d`, body = half queue offset) mark resolution.
//! Progress is kept in the consumer-offset table under the internal group CID_RMQ_SYS_TRANS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use mq_common::message::property::{
    CHECK_IMMUNITY_TIME_IN_SECONDS, PGROUP, TRANSACTION_CHECK_TIMES, TRANSACTION_ID, UNIQ_KEY,
};
use mq_common::message::{MessageExtBrokerInner, RecordView};
use mq_common::protocol::body::system_topics::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use mq_common::protocol::codes::request as rq;
use mq_common::protocol::header::CheckTransactionStateRequestHeader;
use mq_common::protocol::{now_millis, RemotingCommand};
use parking_lot::Mutex;

use crate::broker::Broker;
use crate::store::GetMessageStatus;

const GROUP: &str = "CID_RMQ_SYS_TRANS";

/// Resolved half offsets seen in op records (pruned below the half scan offset).
#[derive(Default)]
pub struct TxState {
    resolved: Mutex<HashSet<i64>>,
}

fn read_ops(b: &Broker, st: &TxState) {
    let mut off = b.offsets.query(GROUP, TRANS_OP_HALF_TOPIC, 0).unwrap_or(0);
    loop {
        let r = b.store.get_message(GROUP, TRANS_OP_HALF_TOPIC, 0, off, 256, 4 << 20, None);
        if r.status != GetMessageStatus::Found {
            if matches!(
                r.status,
                GetMessageStatus::OffsetTooSmall | GetMessageStatus::NoMatchedMessage
            ) && r.next_begin_offset > off
            {
                off = r.next_begin_offset;
                continue;
            }
            break;
        }
        let mut set = st.resolved.lock();
        for rec in &r.messages {
            if let Ok(v) = RecordView::parse(rec, false) {
                if let Some(q) =
                    std::str::from_utf8(v.body).ok().and_then(|s| s.trim().parse::<i64>().ok())
                {
                    set.insert(q);
                }
            }
        }
        off = r.next_begin_offset;
    }
    b.offsets.commit(GROUP, TRANS_OP_HALF_TOPIC, 0, off);
}

/// One checker pass.
pub async fn check_once(b: &Broker, st: &TxState) {
    read_ops(b, st);
    let now = now_millis();
    let mut off = b.offsets.query(GROUP, TRANS_HALF_TOPIC, 0).unwrap_or(0);
    'scan: loop {
        let r = b.store.get_message(GROUP, TRANS_HALF_TOPIC, 0, off, 32, 4 << 20, None);
        match r.status {
            GetMessageStatus::Found => {}
            GetMessageStatus::OffsetTooSmall | GetMessageStatus::NoMatchedMessage
                if r.next_begin_offset > off =>
            {
                off = r.next_begin_offset;
                continue;
            }
            _ => break,
        }
        for rec in &r.messages {
            let Ok(v) = RecordView::parse(rec, false) else {
                off += 1;
                continue;
            };
            if st.resolved.lock().remove(&v.queue_offset) {
                off = v.queue_offset + 1;
                continue;
            }
            let immunity = v
                .property(CHECK_IMMUNITY_TIME_IN_SECONDS)
                .and_then(|s| s.parse::<i64>().ok())
                .map(|s| s * 1000)
                .unwrap_or(b.live.transaction_time_out() as i64);
            if now - v.born_timestamp.min(v.store_timestamp) < immunity {
                break 'scan;
            }
            let checks: i32 =
                v.property(TRANSACTION_CHECK_TIMES).and_then(|s| s.parse().ok()).unwrap_or(0);
            off = v.queue_offset + 1;
            if checks >= b.live.transaction_check_max() {
                tracing::warn!(
                    queue_offset = v.queue_offset,
                    checks,
                    "half message discarded after transactionCheckMax checks"
                );
                continue;
            }
            let group = v.property(PGROUP).unwrap_or("").to_string();
            let Some(producer) = b.producers.any_channel(&group) else {
                // Nobody to ask: keep it for the next pass.
                off = v.queue_offset;
                break 'scan;
            };
            let mut m = MessageExtBrokerInner {
                topic: TRANS_HALF_TOPIC.to_string(),
                queue_id: 0,
                flag: v.flag,
                sys_flag: v.sys_flag,
                born_timestamp: v.born_timestamp,
                born_host: v.born_host,
                store_host: b.store_host,
                reconsume_times: v.reconsume_times,
                prepared_transaction_offset: 0,
                body: rec.slice_ref(v.body),
                properties: v.properties.to_string(),
                tags_code: 0,
            };
            m.set_property(TRANSACTION_CHECK_TIMES, &(checks + 1).to_string());
            // The producer is asked only once the re-put is durable (SYNC_FLUSH), as Java's
            // store answers the put only then.
            let put = b.store.put_message(m).durable().await;
            if !put.status.is_stored() {
                off = v.queue_offset;
                break 'scan;
            }
            let Some(copy) = b.store.look_message_by_offset(put.wrote_offset) else { continue };
            if let crate::client_link::ClientLink::Grpc(s) = &producer.channel {
                // A 5.x producer: the check goes on its Telemetry stream.
                let tx_id = crate::grpc::transaction::tx_id(
                    v.property(UNIQ_KEY).unwrap_or(""),
                    put.wrote_offset,
                    put.queue_offset,
                );
                let topic = v.property(mq_common::message::property::REAL_TOPIC).unwrap_or(&group);
                crate::grpc::transaction::push_check(
                    s,
                    &b.grpc,
                    &copy,
                    &tx_id,
                    topic,
                    put.wrote_offset,
                    put.queue_offset,
                );
                continue;
            }
            let hdr = CheckTransactionStateRequestHeader {
                tran_state_table_offset: put.queue_offset,
                commit_log_offset: put.wrote_offset,
                msg_id: v.property(UNIQ_KEY).map(str::to_string),
                transaction_id: v
                    .property(TRANSACTION_ID)
                    .or(v.property(UNIQ_KEY))
                    .map(str::to_string),
                offset_msg_id: Some(put.msg_id.clone()),
            };
            producer.channel.send_oneway(
                RemotingCommand::request_with_header(rq::CHECK_TRANSACTION_STATE, &hdr)
                    .with_body(copy),
            );
        }
    }
    b.offsets.commit(GROUP, TRANS_HALF_TOPIC, 0, off);
    st.resolved.lock().retain(|q| *q >= off);
}

/// The checker task.
pub async fn run(b: Arc<Broker>) {
    let st = TxState::default();
    loop {
        // Read per round, as Java's check service does: UPDATE_BROKER_CONFIG may change it.
        let every = Duration::from_millis(b.live.transaction_check_interval().max(100));
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if b.topics.contains(TRANS_HALF_TOPIC) && b.ha.accepts_writes() {
            check_once(&b, &st).await;
        }
    }
}
