//! Store configuration with Apache RocketMQ key names (spec §6.2).

use std::path::PathBuf;

/// How the commit log is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// Flush on an interval; sends are acknowledged before data is on disk.
    Async,
    /// Group commit: a send with `WAIT=true` is acknowledged after an fsync covering it.
    Sync,
}

/// Message-store configuration. Field names are Apache's keys in snake case.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `storePathRootDir` (default `~/store`).
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog`; `None` = `<root>/commitlog`.
    pub store_path_commit_log: Option<PathBuf>,
    /// `mappedFileSizeCommitLog` / legacy `mapedFileSizeCommitLog` (1 GiB).
    pub mapped_file_size_commit_log: u64,
    /// `mappedFileSizeConsumeQueue` / legacy `mapedFileSizeConsumeQueue` (6,000,000; rounded
    /// down to a multiple of 20).
    pub mapped_file_size_consume_queue: u64,
    /// `flushDiskType` (`ASYNC_FLUSH` / `SYNC_FLUSH`).
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog`, ms (500).
    pub flush_interval_commit_log: u64,
    /// `flushCommitLogLeastPages` (4).
    pub flush_commit_log_least_pages: u64,
    /// `flushCommitLogThoroughInterval`, ms (10,000).
    pub flush_commit_log_thorough_interval: u64,
    /// `flushIntervalConsumeQueue`, ms (1000).
    pub flush_interval_consume_queue: u64,
    /// `syncFlushTimeout`, ms (5000).
    pub sync_flush_timeout: u64,
    /// `fileReservedTime`, hours (72).
    pub file_reserved_time: u64,
    /// `deleteWhen`, `;`-separated local hours (`"04"`).
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio`, percent (75).
    pub disk_max_used_space_ratio: u32,
    /// `cleanFileForciblyEnable` (true): above 85% usage delete even unexpired files.
    pub clean_file_forcibly_enable: bool,
    /// `cleanResourceInterval`, ms (10,000).
    pub clean_resource_interval: u64,
    /// `deleteCommitLogFilesInterval`, ms between deletions in one run (100).
    pub delete_commit_log_files_interval: u64,
    /// `maxMessageSize`, body limit in bytes (4 MiB).
    pub max_message_size: usize,
    /// `messageIndexEnable` (true).
    pub message_index_enable: bool,
    /// `maxHashSlotNum` (5,000,000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum` (20,000,000).
    pub max_index_num: u32,
    /// `checkCRCOnRecover` (true).
    pub check_crc_on_recover: bool,
    /// `messageDelayLevel` (`1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h`).
    pub message_delay_level: String,
    /// `warmMapedFileEnable`: pre-touch pages of new commit-log files in the background (true
    /// here, unlike Java, because first-touch appends are ~17x slower on this hardware).
    pub warm_mapped_file_enable: bool,
}

/// Default delay levels (§8.1).
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

impl Default for StoreConfig {
    fn default() -> Self {
        let home =
            std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        StoreConfig {
            store_path_root_dir: home.join("store"),
            store_path_commit_log: None,
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            flush_disk_type: FlushDiskType::Async,
            flush_interval_commit_log: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval: 10_000,
            flush_interval_consume_queue: 1000,
            sync_flush_timeout: 5000,
            file_reserved_time: 72,
            delete_when: "04".into(),
            disk_max_used_space_ratio: 75,
            clean_file_forcibly_enable: true,
            clean_resource_interval: 10_000,
            delete_commit_log_files_interval: 100,
            max_message_size: 4 * 1024 * 1024,
            message_index_enable: true,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            check_crc_on_recover: true,
            message_delay_level: DEFAULT_DELAY_LEVELS.into(),
            warm_mapped_file_enable: true,
        }
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("invalid value for {key}: {v:?}"))
}

impl StoreConfig {
    /// A config rooted at `root` with defaults otherwise.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        StoreConfig { store_path_root_dir: root.into(), ..Default::default() }
    }

    /// Apply one Apache config key. Returns `Ok(true)` if the key belongs to the store,
    /// `Ok(false)` if unknown (the caller may try other config objects), `Err` if the value is
    /// invalid. Legacy spellings (`mapedFileSize*`, `warmMapedFileEnable`) are accepted.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let v = value.trim();
        let b = || v.eq_ignore_ascii_case("true");
        match key {
            "storePathRootDir" => self.store_path_root_dir = PathBuf::from(v),
            "storePathCommitLog" => {
                // Late 4.9 accepts several dirs separated by ','; we use the first.
                let first = v.split(',').next().unwrap_or("").trim();
                self.store_path_commit_log = (!first.is_empty()).then(|| PathBuf::from(first));
            }
            "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog" => {
                self.mapped_file_size_commit_log = parse_num(key, v)?
            }
            "mappedFileSizeConsumeQueue" | "mapedFileSizeConsumeQueue" => {
                self.mapped_file_size_consume_queue = parse_num(key, v)?
            }
            "flushDiskType" => {
                self.flush_disk_type = match v {
                    "ASYNC_FLUSH" => FlushDiskType::Async,
                    "SYNC_FLUSH" => FlushDiskType::Sync,
                    _ => return Err(format!("invalid flushDiskType {v:?}")),
                }
            }
            "flushIntervalCommitLog" => self.flush_interval_commit_log = parse_num(key, v)?,
            "flushCommitLogLeastPages" => self.flush_commit_log_least_pages = parse_num(key, v)?,
            "flushCommitLogThoroughInterval" => {
                self.flush_commit_log_thorough_interval = parse_num(key, v)?
            }
            "flushIntervalConsumeQueue" => self.flush_interval_consume_queue = parse_num(key, v)?,
            "syncFlushTimeout" => self.sync_flush_timeout = parse_num(key, v)?,
            "fileReservedTime" => self.file_reserved_time = parse_num(key, v)?,
            "deleteWhen" => self.delete_when = v.to_owned(),
            "diskMaxUsedSpaceRatio" => self.disk_max_used_space_ratio = parse_num(key, v)?,
            "cleanFileForciblyEnable" => self.clean_file_forcibly_enable = b(),
            "cleanResourceInterval" => self.clean_resource_interval = parse_num(key, v)?,
            "deleteCommitLogFilesInterval" => {
                self.delete_commit_log_files_interval = parse_num(key, v)?
            }
            "maxMessageSize" => self.max_message_size = parse_num(key, v)?,
            "messageIndexEnable" => self.message_index_enable = b(),
            "maxHashSlotNum" => self.max_hash_slot_num = parse_num(key, v)?,
            "maxIndexNum" => self.max_index_num = parse_num(key, v)?,
            "checkCRCOnRecover" => self.check_crc_on_recover = b(),
            "messageDelayLevel" => {
                parse_delay_levels(v)?;
                self.message_delay_level = v.to_owned()
            }
            "warmMapedFileEnable" | "warmMappedFileEnable" => self.warm_mapped_file_enable = b(),
            // Accepted and ignored, as Java 4.9 derives these from storePathRootDir.
            "storePathConsumeQueue" | "storePathIndex" | "storeCheckpoint" | "abortFile" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The commit-log directory.
    pub fn commit_log_dir(&self) -> PathBuf {
        self.store_path_commit_log
            .clone()
            .unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
    }

    /// Delay of each level in ms (index 0 = level 1).
    pub fn delay_levels_ms(&self) -> Vec<i64> {
        parse_delay_levels(&self.message_delay_level)
            .unwrap_or_else(|_| parse_delay_levels(DEFAULT_DELAY_LEVELS).unwrap_or_default())
    }

    /// Consume-queue file size rounded down to whole 20-byte units (at least one).
    pub fn cq_file_size(&self) -> u64 {
        (self.mapped_file_size_consume_queue / 20).max(1) * 20
    }
}

/// Parse `"1s 5s 10s 1m 2h 1d"` into milliseconds.
pub fn parse_delay_levels(s: &str) -> Result<Vec<i64>, String> {
    s.split_whitespace()
        .map(|tok| {
            let (num, unit) = tok.split_at(tok.len().saturating_sub(1));
            let mult = match unit {
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return Err(format!("bad delay level {tok:?}")),
            };
            num.parse::<i64>().map(|n| n * mult).map_err(|_| format!("bad delay level {tok:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_keys() {
        let mut c = StoreConfig::default();
        assert_eq!(c.apply("mapedFileSizeCommitLog", "65536"), Ok(true));
        assert_eq!(c.mapped_file_size_commit_log, 65536);
        assert_eq!(c.apply("mappedFileSizeConsumeQueue", "400"), Ok(true));
        assert_eq!(c.apply("flushDiskType", "SYNC_FLUSH"), Ok(true));
        assert_eq!(c.flush_disk_type, FlushDiskType::Sync);
        assert_eq!(c.apply("brokerName", "x"), Ok(false));
        assert!(c.apply("fileReservedTime", "abc").is_err());
        assert_eq!(c.apply("storePathRootDir", "/tmp/x"), Ok(true));
        assert_eq!(c.commit_log_dir(), PathBuf::from("/tmp/x/commitlog"));
        assert_eq!(c.delay_levels_ms().len(), 18);
        assert_eq!(c.delay_levels_ms()[17], 7_200_000);
        assert!(c.apply("messageDelayLevel", "1x").is_err());
    }
}

impl mq_common::config::ConfigKeys for StoreConfig {
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, String> {
        StoreConfig::apply(self, key, value)
    }

    fn entries(&self) -> Vec<mq_common::config::ConfigEntry> {
        use mq_common::config::ConfigEntry;
        let e = |key: &'static str, value: String, important: bool| ConfigEntry {
            key,
            value,
            important,
        };
        let b = |v: bool| v.to_string();
        vec![
            e("storePathRootDir", self.store_path_root_dir.display().to_string(), true),
            e("storePathCommitLog", self.commit_log_dir().display().to_string(), true),
            e("mappedFileSizeCommitLog", self.mapped_file_size_commit_log.to_string(), false),
            e("mappedFileSizeConsumeQueue", self.mapped_file_size_consume_queue.to_string(), false),
            e(
                "flushDiskType",
                match self.flush_disk_type {
                    FlushDiskType::Async => "ASYNC_FLUSH".into(),
                    FlushDiskType::Sync => "SYNC_FLUSH".into(),
                },
                true,
            ),
            e("flushIntervalCommitLog", self.flush_interval_commit_log.to_string(), false),
            e("flushCommitLogLeastPages", self.flush_commit_log_least_pages.to_string(), false),
            e(
                "flushCommitLogThoroughInterval",
                self.flush_commit_log_thorough_interval.to_string(),
                false,
            ),
            e("flushIntervalConsumeQueue", self.flush_interval_consume_queue.to_string(), false),
            e("syncFlushTimeout", self.sync_flush_timeout.to_string(), false),
            e("fileReservedTime", self.file_reserved_time.to_string(), true),
            e("deleteWhen", self.delete_when.clone(), true),
            e("diskMaxUsedSpaceRatio", self.disk_max_used_space_ratio.to_string(), true),
            e("cleanFileForciblyEnable", b(self.clean_file_forcibly_enable), false),
            e("cleanResourceInterval", self.clean_resource_interval.to_string(), false),
            e(
                "deleteCommitLogFilesInterval",
                self.delete_commit_log_files_interval.to_string(),
                false,
            ),
            e("maxMessageSize", self.max_message_size.to_string(), true),
            e("messageIndexEnable", b(self.message_index_enable), false),
            e("maxHashSlotNum", self.max_hash_slot_num.to_string(), false),
            e("maxIndexNum", self.max_index_num.to_string(), false),
            e("checkCRCOnRecover", b(self.check_crc_on_recover), false),
            e("messageDelayLevel", self.message_delay_level.clone(), false),
            e("warmMapedFileEnable", b(self.warm_mapped_file_enable), false),
        ]
    }
}

#[cfg(test)]
mod keys_tests {
    use super::*;
    use mq_common::config::ConfigKeys;

    #[test]
    fn every_entry_round_trips_through_apply() {
        let c = StoreConfig::default();
        let mut d = StoreConfig::with_root("/elsewhere");
        for e in ConfigKeys::entries(&c) {
            assert_eq!(ConfigKeys::apply(&mut d, e.key, &e.value), Ok(true), "{}", e.key);
        }
        assert_eq!(
            format!("{:?}", ConfigKeys::entries(&d)),
            format!("{:?}", ConfigKeys::entries(&c))
        );
    }
}
