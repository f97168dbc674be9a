//! Conversions from decoded messages to the console's message views (shared by both backends).

use std::fmt::Write as _;

use mq_common::message::{property, MessageExt};

use super::{MessageDetail, MessageSummary};

/// Largest body shown in the detail view (hex and text).
pub const MAX_BODY_SHOWN: usize = 64 * 1024;

/// Summary row of a message.
pub fn summary_of(m: &MessageExt, broker_name: Option<&str>) -> MessageSummary {
    MessageSummary {
        msg_id: m.msg_id().to_string(),
        offset_msg_id: m.offset_msg_id.clone(),
        topic: m.topic.clone(),
        tags: m.tags().map(str::to_string),
        keys: m.property(property::KEYS).map(str::to_string),
        broker_name: broker_name.map(str::to_string),
        queue_id: m.queue_id,
        queue_offset: m.queue_offset,
        store_timestamp: m.store_timestamp,
        body_size: m.body.len(),
        reconsume_times: m.reconsume_times,
    }
}

/// Full detail of a message (consumption state filled in by the caller).
pub fn detail_of(m: &MessageExt, broker_name: Option<&str>) -> MessageDetail {
    let body = m.body_uncompressed(4 * 1024 * 1024).unwrap_or_else(|_| m.body.clone());
    let shown = &body[..body.len().min(MAX_BODY_SHOWN)];
    let mut hex = String::with_capacity(shown.len() * 2);
    for b in shown {
        let _ = write!(hex, "{b:02x}");
    }
    MessageDetail {
        summary: summary_of(m, broker_name),
        properties: m.properties.clone(),
        body_text: std::str::from_utf8(shown).ok().map(str::to_string),
        body_hex: hex,
        store_host: m.store_host.to_string(),
        born_host: m.born_host.to_string(),
        born_timestamp: m.born_timestamp,
        commit_log_offset: m.commit_log_offset,
        consumed_by: Vec::new(),
    }
}

/// Sort newest first and cap; returns whether anything was cut.
pub fn sort_and_cap(list: &mut Vec<MessageSummary>, limit: usize) -> bool {
    list.sort_by(|a, b| {
        b.store_timestamp.cmp(&a.store_timestamp).then(a.queue_offset.cmp(&b.queue_offset))
    });
    let truncated = list.len() > limit;
    list.truncate(limit);
    truncated
}
