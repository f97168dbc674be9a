//! Output helpers: JSON for `--json`, timestamps and message details like Apache's tools.

use mq_client::MessageExt;

/// Print a value as pretty JSON.
pub fn json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `yyyy-MM-dd HH:mm:ss,SSS` in local time (Apache's `UtilAll.timeMillisToHumanString2`).
pub fn human_time(ms: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) => t.format("%Y-%m-%d %H:%M:%S,%3f").to_string(),
        _ => ms.to_string(),
    }
}

/// Parse Apache's time arguments: `now`, epoch millis, or `yyyy-MM-dd#HH:mm:ss:SSS`.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    if s.eq_ignore_ascii_case("now") {
        return Ok(mq_common::protocol::now_millis());
    }
    if let Ok(v) = s.parse::<i64>() {
        return Ok(v);
    }
    use chrono::TimeZone;
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d#%H:%M:%S:%3f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d#%H:%M:%S"))
        .map_err(|_| {
            anyhow::anyhow!("bad time '{s}': use now, epoch millis or yyyy-MM-dd#HH:mm:ss:SSS")
        })?;
    chrono::Local
        .from_local_datetime(&t)
        .single()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| anyhow::anyhow!("ambiguous local time '{s}'"))
}

/// A message as JSON (body as UTF-8 text when it is, else base-16).
pub fn message_json(m: &MessageExt) -> serde_json::Value {
    let body = match std::str::from_utf8(&m.body) {
        Ok(s) => serde_json::Value::String(s.to_string()),
        Err(_) => serde_json::Value::String(m.body.iter().map(|b| format!("{b:02X}")).collect()),
    };
    serde_json::json!({
        "msgId": m.msg_id(),
        "offsetMsgId": m.offset_msg_id,
        "topic": m.topic,
        "tags": m.tags(),
        "keys": m.keys(),
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "commitLogOffset": m.commit_log_offset,
        "reconsumeTimes": m.reconsume_times,
        "bornTimestamp": m.born_timestamp,
        "storeTimestamp": m.store_timestamp,
        "bornHost": m.born_host.to_string(),
        "storeHost": m.store_host.to_string(),
        "sysFlag": m.sys_flag,
        "properties": m.properties,
        "body": body,
    })
}

/// Apache's message detail block (`queryMsgById`, `queryMsgByOffset`).
pub fn print_message(m: &MessageExt) {
    let row = |k: &str, v: String| println!("{:<20} {}", k, v);
    row("OffsetID:", m.offset_msg_id.clone());
    row("Topic:", m.topic.clone());
    row("Tags:", format!("[{}]", m.tags().unwrap_or("")));
    row("Keys:", format!("[{}]", m.keys().join(" ")));
    row("Queue ID:", m.queue_id.to_string());
    row("Queue Offset:", m.queue_offset.to_string());
    row("CommitLog Offset:", m.commit_log_offset.to_string());
    row("Reconsume Times:", m.reconsume_times.to_string());
    row("Born Timestamp:", human_time(m.born_timestamp));
    row("Store Timestamp:", human_time(m.store_timestamp));
    row("Born Host:", m.born_host.to_string());
    row("Store Host:", m.store_host.to_string());
    row("System Flag:", m.sys_flag.to_string());
    row("Properties:", format!("{:?}", m.properties));
    row("Message Body:", String::from_utf8_lossy(&m.body).into_owned());
}
