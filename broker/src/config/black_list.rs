//! Keys UPDATE_BROKER_CONFIG never changes (answered NO_PERMISSION, as Java's
//! `configBlackList`).

/// Refused whatever `configBlackList` says (issue 16, B6/B9):
/// - the store's on-disk layout: a commit-log or consume-queue file size, the index geometry
///   or a store path changed in the running broker's persisted config takes effect at the
///   next start and orphans or misreads every message already stored (and a path can point
///   the broker's writes anywhere its user may write);
/// - Java's always-blacklisted keys (`brokerConfigPath`, `rocketmqHome`, `configBlackList`).
///
/// They are set in the config file (or `--set`) of a stopped broker.
pub const WIRE_REFUSED_KEYS: &[&str] = &[
    "storePathRootDir",
    "storePathCommitLog",
    "storePathConsumeQueue",
    "storePathIndex",
    "storeCheckpoint",
    "abortFile",
    "mappedFileSizeCommitLog",
    "mapedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "mapedFileSizeConsumeQueue",
    "maxHashSlotNum",
    "maxIndexNum",
    "brokerConfigPath",
    "rocketmqHome",
    "configBlackList",
];

/// Whether UPDATE_BROKER_CONFIG refuses `key`; `black_list` is the broker's
/// `configBlackList` (`;`-separated keys refused in addition to [`WIRE_REFUSED_KEYS`]).
pub fn refused_on_the_wire(key: &str, black_list: &str) -> bool {
    WIRE_REFUSED_KEYS.contains(&key) || black_list.split(';').any(|k| k.trim() == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use mq_common::config::ConfigKeys;

    #[test]
    fn layout_keys_and_the_configured_list_are_refused() {
        let c = BrokerConfig::default();
        assert!(refused_on_the_wire("mappedFileSizeCommitLog", &c.config_black_list));
        assert!(refused_on_the_wire("storePathRootDir", ""));
        assert!(refused_on_the_wire("brokerConfigPath", &c.config_black_list));
        assert!(!refused_on_the_wire("brokerName", &c.config_black_list));
        assert!(refused_on_the_wire("brokerName", "configBlackList; brokerName"));
        assert!(!refused_on_the_wire("fileReservedTime", &c.config_black_list));
        // Every refused key that this broker knows is declared (no typo hides here).
        for k in WIRE_REFUSED_KEYS {
            if !["brokerConfigPath"].contains(k) {
                assert!(c.key_effect(k).is_some(), "{k} is not a known key");
            }
        }
    }
}
