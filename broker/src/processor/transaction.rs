//! END_TRANSACTION (37), spec §8.2: commit re-appends the half message to its real topic with
//! the COMMIT sysFlag and writes an op record; rollback writes only the op record.
//! Unresolved half messages are checked by [`crate::transaction_checker`].

use mq_common::acl::Perm;
use mq_common::message::property::{self, REAL_QID, REAL_TOPIC, TAGS, TRAN_MSG, WAIT};
use mq_common::message::{sysflag, MessageExtBrokerInner, RecordView};
use mq_common::protocol::body::{system_topics, PERM_READ, PERM_WRITE};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::EndTransactionRequestHeader;
use mq_common::protocol::{now_millis, RemotingCommand};
use std::sync::Arc;

use super::{answer_when_durable, err, header, Reply};
use crate::broker::Broker;
use crate::store::{Put, PutMessageResult};
use mq_common::remoting::Channel;

/// Process END_TRANSACTION (usually oneway; the response is dropped then).
pub fn end_transaction(b: &Arc<Broker>, ch: &Channel, req: &RemotingCommand) -> Reply {
    let h: EndTransactionRequestHeader = header(req)?;
    // The header names no topic Java 4.x clients fill in: the half message's real topic is
    // what the caller must be allowed to publish to (ACL).
    let may_end = |topic: &str| super::found::may_access(b, ch, req, topic, Perm::PUB);
    match end(b, &h, may_end)? {
        None => Ok(Some(RemotingCommand::success())),
        Some(put) => answer_when_durable(b, ch, req, put, answer),
    }
}

/// The answer once the op record's put (which covers the commit) is durable, or why not.
pub(crate) fn answer(r: PutMessageResult) -> RemotingCommand {
    match r.status {
        s if s.is_stored() => RemotingCommand::success(),
        s => err(response::SYSTEM_ERROR, format!("writing transaction op record failed: {s:?}")),
    }
}

/// Commit or roll back the half message `h` names (shared by remoting and gRPC): the op
/// record's put, whose ticket also covers the commit's, to be answered through [`answer`]
/// once durable; `None` when there is nothing to do (UNKNOWN). `may_end` is asked with the
/// half message's real topic before anything is written (the caller's ACL check).
pub(crate) fn end(
    b: &Broker,
    h: &EndTransactionRequestHeader,
    may_end: impl FnOnce(&str) -> Result<(), RemotingCommand>,
) -> Result<Option<Put>, RemotingCommand> {
    if b.is_slave() {
        return Err(err(
            response::SLAVE_NOT_AVAILABLE,
            "the broker is a slave, END_TRANSACTION is not allowed",
        ));
    }
    let ty = h.commit_or_rollback;
    if ty != sysflag::TRANSACTION_COMMIT_TYPE && ty != sysflag::TRANSACTION_ROLLBACK_TYPE {
        // UNKNOWN: nothing to do until a check resolves it.
        return Ok(None);
    }
    let Some(rec) = b.store.look_message_by_offset(h.commit_log_offset) else {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("find prepared transaction message failed, offset {}", h.commit_log_offset),
        ));
    };
    let view = match RecordView::parse(&rec, false) {
        Ok(v) => v,
        Err(e) => {
            return Err(err(response::SYSTEM_ERROR, format!("prepared message unreadable: {e}")))
        }
    };
    if view.topic != system_topics::TRANS_HALF_TOPIC {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("the message at {} is not a half message", h.commit_log_offset),
        ));
    }
    if view.property(property::PGROUP).is_some_and(|g| g != h.producer_group) {
        return Err(err(response::SYSTEM_ERROR, "the producer group wrong"));
    }
    may_end(view.property(REAL_TOPIC).unwrap_or(""))?;
    let mut commit = None;
    if ty == sysflag::TRANSACTION_COMMIT_TYPE {
        let real_topic = view.property(REAL_TOPIC).unwrap_or("").to_string();
        let real_qid = view.property(REAL_QID).and_then(|q| q.parse().ok()).unwrap_or(0);
        let mut m = MessageExtBrokerInner {
            topic: real_topic,
            queue_id: real_qid,
            flag: view.flag,
            sys_flag: sysflag::reset_transaction_value(
                view.sys_flag,
                sysflag::TRANSACTION_COMMIT_TYPE,
            ),
            born_timestamp: view.born_timestamp,
            born_host: view.born_host,
            store_host: b.store_host,
            reconsume_times: view.reconsume_times,
            prepared_transaction_offset: h.commit_log_offset,
            body: rec.slice_ref(view.body),
            properties: view.properties.to_string(),
            tags_code: 0,
        };
        m.remove_property(TRAN_MSG);
        m.remove_property(REAL_TOPIC);
        m.remove_property(REAL_QID);
        m.set_property(WAIT, "false");
        // A timer's delay counts from the commit (the half message was not timed).
        b.timer.intercept(&mut m).map_err(|e| err(e.code(), e.to_string()))?;
        let put = b.store.put_message(m);
        if !put.result.status.is_stored() {
            return Err(err(
                response::SYSTEM_ERROR,
                format!("commit of half message failed: {:?}", put.result.status),
            ));
        }
        commit = Some(put.ticket);
    }
    // Op record: marks the half message (by its queue offset) as resolved.
    let mut op = MessageExtBrokerInner {
        topic: system_topics::TRANS_OP_HALF_TOPIC.to_string(),
        queue_id: view.queue_id,
        born_timestamp: now_millis(),
        born_host: b.store_host,
        store_host: b.store_host,
        body: bytes::Bytes::from(view.queue_offset.to_string()),
        ..Default::default()
    };
    op.set_property(TAGS, "d");
    op.set_property(WAIT, "false");
    b.topics.ensure(system_topics::TRANS_OP_HALF_TOPIC, 1, PERM_READ | PERM_WRITE);
    let put = b.store.put_message(op);
    if let Some(c) = commit {
        // The op record follows the commit in the log; when it is durable, so is the commit.
        // (A failed op put has nothing pending: the error answer does not wait.)
        match put.ticket.is_pending() {
            true => c.covered_by(&put.ticket),
            false => c.on_durable(Box::new(|_| {})),
        }
    }
    if put.result.status.is_stored() {
        let topic = view.property(REAL_TOPIC).unwrap_or("");
        b.metrics.transaction_end(topic, ty == sysflag::TRANSACTION_COMMIT_TYPE);
    }
    Ok(Some(put))
}
