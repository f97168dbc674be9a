//! The one place where a message's size and format are checked before it is stored, and where
//! a delayed message is rewritten to SCHEDULE_TOPIC_XXXX. Every put path goes through here.

use mq_common::message::property::{DELAY, REAL_QID, REAL_TOPIC};
use mq_common::message::sysflag::{self, TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE};
use mq_common::message::{EncodeError, MessageExtBrokerInner};
use mq_common::protocol::body::system_topics::SCHEDULE_TOPIC;

use super::commit_log::END_FILE_MIN_BLANK_LENGTH;
use super::types::{PutMessageResult, PutMessageStatus};

fn illegal(remark: impl Into<String>) -> PutMessageResult {
    PutMessageResult::failed(PutMessageStatus::MessageIllegal, remark)
}

/// The encoded record length of `msg`, or the refusal: body over `maxMessageSize`, properties
/// over 32767 bytes, a topic too long, ...
// The large `Err` is the put result itself, returned once per put: boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub fn record_len(msg: &MessageExtBrokerInner, max_body: usize) -> Result<usize, PutMessageResult> {
    if msg.body.len() > max_body {
        return Err(illegal(format!(
            "body of {} bytes exceeds maxMessageSize {max_body}",
            msg.body.len()
        )));
    }
    match msg.check_format() {
        Ok(len) => Ok(len),
        Err(EncodeError::PropertiesTooLong(n)) => Err(PutMessageResult::failed(
            PutMessageStatus::PropertiesSizeExceeded,
            format!("properties of {n} bytes exceed 32767"),
        )),
        Err(e) => Err(illegal(e.to_string())),
    }
}

/// The record lengths of a batch (SEND_BATCH): every message valid, all of one topic and
/// queue, plain (not transactional) and not delayed, and all of it fitting in one file.
#[allow(clippy::result_large_err)]
pub fn batch_lens(
    msgs: &[MessageExtBrokerInner],
    max_body: usize,
    file_size: usize,
) -> Result<Vec<usize>, PutMessageResult> {
    let Some(first) = msgs.first() else { return Err(illegal("empty batch")) };
    let mut lens = Vec::with_capacity(msgs.len());
    for m in msgs {
        if m.topic != first.topic || m.queue_id != first.queue_id {
            return Err(illegal("batch mixes topics or queues"));
        }
        if sysflag::transaction_value(m.sys_flag) != TRANSACTION_NOT_TYPE || m.delay_level() > 0 {
            return Err(illegal("batch messages cannot be delayed or transactional"));
        }
        lens.push(record_len(m, max_body)?);
    }
    if lens.iter().sum::<usize>() + END_FILE_MIN_BLANK_LENGTH > file_size {
        return Err(illegal("batch larger than a commit-log file"));
    }
    Ok(lens)
}

/// Whether a record of `len` bytes fits in a commit-log file of `file_size`.
#[allow(clippy::result_large_err)]
pub fn fits_in_file(len: usize, file_size: usize) -> Result<(), PutMessageResult> {
    if len + END_FILE_MIN_BLANK_LENGTH > file_size {
        return Err(illegal("record larger than a commit-log file"));
    }
    Ok(())
}

/// Rewrite a delayed message to SCHEDULE_TOPIC_XXXX queue `level - 1` (§8.1), as Java's
/// CommitLog does: the real topic and queue go to REAL_TOPIC / REAL_QID, the level is clamped
/// to the table. Transaction halves and rollbacks are never delayed.
pub fn apply_delay(msg: &mut MessageExtBrokerInner, levels: &[i64]) {
    let tran = sysflag::transaction_value(msg.sys_flag);
    if tran != TRANSACTION_NOT_TYPE && tran != TRANSACTION_COMMIT_TYPE {
        return;
    }
    let level = msg.delay_level();
    if level <= 0 || levels.is_empty() {
        return;
    }
    let level = level.min(levels.len() as i32);
    msg.set_property(DELAY, &level.to_string());
    let real_topic = std::mem::replace(&mut msg.topic, SCHEDULE_TOPIC.to_owned());
    let real_qid = msg.queue_id;
    msg.set_property(REAL_TOPIC, &real_topic);
    msg.set_property(REAL_QID, &real_qid.to_string());
    msg.queue_id = level - 1;
}
