//! GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25).
//!
//! An update is all-or-nothing: every key is validated (broker and store rules) before
//! anything changes. Then the live keys take effect at once (`config/live.rs` lists them and
//! the Java evidence), the whole configuration is rewritten to the broker's config file (as
//! Java's `Configuration.persist()`), and the remark says which keys needed a restart, had no
//! effect here, or were unknown.

use std::sync::atomic::Ordering;

use mq_common::config::{
    parse_properties, ConfigKeys, KeyEffect, SECRET_KEYS, WIRE_FORBIDDEN_KEYS,
};
use mq_common::protocol::codes::response;
use mq_common::protocol::RemotingCommand;

use super::{err, Reply};
use crate::broker::Broker;
use crate::config::{config_file_path, persist};

/// Serialises updates: validate → apply → persist must not interleave between two admins,
/// or the file could end up with the older of two updates.
static UPDATE_LOCK: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// GET_BROKER_CONFIG (26): properties text of the current configuration (updates included).
pub fn get_broker_config(b: &Broker) -> Reply {
    let cfg = b.live_cfg.read();
    let mut text = String::new();
    for e in cfg.entries() {
        text.push_str(e.key);
        text.push('=');
        // The broker's own secret (for the name servers) is never sent back.
        let secret = SECRET_KEYS.contains(&e.key) && !e.value.is_empty();
        text.push_str(if secret { "****" } else { &e.value });
        text.push('\n');
    }
    let version = serde_json::to_string(&b.topics.wrapper().data_version).unwrap_or_default();
    Ok(Some(RemotingCommand::success().with_ext("version", version).with_body(text.into_bytes())))
}

/// Keys naming files or directories the broker reads or writes, or programs' home: never
/// from the wire (CVE-2023-33246 turned `rocketmqHome` into remote code execution).
const PATH_KEYS: &[&str] = &[
    "storePathRootDir",
    "storePathCommitLog",
    "storePathConsumeQueue",
    "storePathIndex",
    "storeCheckpoint",
    "abortFile",
    "rocketmqHome",
    "configFile",
    "brokerConfigPath",
    "kvConfigPath",
];

/// May `key` be changed by UPDATE_BROKER_CONFIG? Not paths (by the list, or by a name that
/// contains "path" or ends in "dir", "home" or "file") and not the security keys.
fn wire_settable(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    let looks_like_path =
        lower.contains("path") || ["dir", "home", "file"].iter().any(|w| lower.ends_with(w));
    !(PATH_KEYS.contains(&key) || WIRE_FORBIDDEN_KEYS.contains(&key) || looks_like_path)
}

/// UPDATE_BROKER_CONFIG (25): properties text body (Java `Properties` syntax).
pub fn update_broker_config(b: &Broker, req: &RemotingCommand) -> Reply {
    let text = String::from_utf8_lossy(&req.body);
    let props = match parse_properties(&text) {
        Ok(p) => p,
        Err(e) => return Err(err(response::SYSTEM_ERROR, format!("string2Properties error: {e}"))),
    };
    if props.is_empty() {
        return Err(err(
            response::SYSTEM_ERROR,
            "string2Properties error: no key=value in the body",
        ));
    }
    let refused: Vec<&str> =
        props.iter().map(|(k, _)| k.as_str()).filter(|k| !wire_settable(k)).collect();
    if !refused.is_empty() {
        return Err(err(
            response::NO_PERMISSION,
            format!(
                "refused, nothing changed: {} cannot be set over the network (file paths and \
                 security settings); edit the config file and restart",
                refused.join(",")
            ),
        ));
    }
    let _guard = UPDATE_LOCK.lock();
    let mut next = b.live_cfg.read().clone();
    let (mut live, mut restart, mut no_effect, mut unknown) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, v) in &props {
        match next.apply(k, v) {
            Ok(true) => match next.key_effect(k) {
                Some(KeyEffect::Live) => live.push((k.as_str(), v.as_str())),
                Some(KeyEffect::Restart) => restart.push(k.as_str()),
                Some(KeyEffect::NoEffect) | None => no_effect.push(k.as_str()),
            },
            Ok(false) => unknown.push(k.as_str()),
            Err(why) => return Err(err(response::SYSTEM_ERROR, format!("{k}: {why}"))),
        }
    }
    // Every key was parsed by its own rules above; now the relations between them, so
    // nothing is half-applied.
    if let Err(why) = next.validate() {
        return Err(err(response::SYSTEM_ERROR, why));
    }

    // Apply the live keys. The store copies cannot fail now (same validation as above).
    if next.broker_permission.0 != b.perm.load(Ordering::Relaxed) {
        b.perm.store(next.broker_permission.0, Ordering::Relaxed);
        b.topics.changed.notify_one();
    }
    b.topics.set_auto_create(next.auto_create_topic_enable);
    b.groups.set_auto_create(next.auto_create_subscription_group);
    b.live.store_from(&next);
    for (k, v) in &live {
        if let Err(why) = b.store.update_live(k, v) {
            tracing::error!(key = k, value = v, %why, "store refused a validated live setting");
        }
    }

    let path = config_file_path(&next);
    let persisted = persist(&next, &path);
    tracing::info!(?live, ?restart, ?unknown, file = %path.display(), "broker config updated");
    *b.live_cfg.write() = next;

    let mut notes = Vec::new();
    if !restart.is_empty() {
        notes.push(format!("recorded, takes effect after a restart: {}", restart.join(",")));
    }
    if !no_effect.is_empty() {
        notes.push(format!("accepted, no effect in this broker: {}", no_effect.join(",")));
    }
    if !unknown.is_empty() {
        notes.push(format!("unknown keys ignored: {}", unknown.join(",")));
    }
    if let Err(e) = persisted {
        tracing::error!(file = %path.display(), error = %e, "persisting the broker config failed");
        notes.push(format!("applied in memory but not persisted to {}: {e}", path.display()));
    }
    let mut r = RemotingCommand::success();
    if !notes.is_empty() {
        r.remark = Some(notes.join("; "));
    }
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::wire_settable;

    #[test]
    fn paths_and_security_keys_are_not_settable() {
        for k in [
            "storePathRootDir",
            "storePathCommitLog",
            "rocketmqHome",
            "aclEnable",
            "aclFilePath",
            "secretKey",
            "tlsMode",
            "tls.server.certPath",
            "someNewLogDir",
        ] {
            assert!(!wire_settable(k), "{k}");
        }
        for k in [
            "brokerPermission",
            "fileReservedTime",
            "deleteWhen",
            "maxMessageSize",
            "mappedFileSizeCommitLog",
            "cleanFileForciblyEnable",
        ] {
            assert!(wire_settable(k), "{k}");
        }
    }
}
