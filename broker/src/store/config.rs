//! Store configuration with Apache RocketMQ key names (spec §6.2).

use std::path::PathBuf;

use mq_common::config::ConfigValue;

/// How the commit log is made durable (`flushDiskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// Flush on an interval; sends are acknowledged before data is on disk.
    Async,
    /// Group commit: a send with `WAIT=true` is acknowledged after an fsync covering it.
    Sync,
}

impl ConfigValue for FlushDiskType {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "ASYNC_FLUSH" => Ok(FlushDiskType::Async),
            "SYNC_FLUSH" => Ok(FlushDiskType::Sync),
            v => Err(format!("'{v}' is not one of ASYNC_FLUSH, SYNC_FLUSH")),
        }
    }
    fn render_value(&self) -> String {
        match self {
            FlushDiskType::Async => "ASYNC_FLUSH".into(),
            FlushDiskType::Sync => "SYNC_FLUSH".into(),
        }
    }
}

/// `messageDelayLevel`: the delay of each level, parsed (and so validated) when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayLevels {
    text: String,
    ms: Vec<i64>,
}

impl DelayLevels {
    /// Delay of each level in ms (index 0 = level 1).
    pub fn ms(&self) -> &[i64] {
        &self.ms
    }
}

impl Default for DelayLevels {
    fn default() -> Self {
        DelayLevels::parse_value(DEFAULT_DELAY_LEVELS)
            .unwrap_or(DelayLevels { text: String::new(), ms: Vec::new() })
    }
}

impl ConfigValue for DelayLevels {
    fn parse_value(s: &str) -> Result<Self, String> {
        let text = s.trim().to_string();
        Ok(DelayLevels { ms: parse_delay_levels(&text)?, text })
    }
    fn render_value(&self) -> String {
        self.text.clone()
    }
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
    pub message_delay_level: DelayLevels,
    /// `warmMapedFileEnable`: pre-touch pages of new commit-log files in the background (true
    /// here, unlike Java, because first-touch appends are ~17x slower on this hardware).
    pub warm_mapped_file_enable: bool,
    /// `commitLogPwriteEnable`: write the commit log with `pwrite(2)` into the page cache and
    /// map it read-only, instead of storing into a writable mapping (no pre-fault, no
    /// write-protect and TLB shootdown at writeback; see `docs/store.md`). Not Java's
    /// `transientStorePoolEnable`: that one acknowledges a message while it is only in an
    /// off-heap buffer; here the write is in the page cache before the put returns. Default
    /// true (measured faster or equal everywhere once a connection's pipelined sends share
    /// one `pwrite`: `bench/RESULTS.md`); false is the writable-mapping mode.
    pub commit_log_pwrite_enable: bool,
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
            message_delay_level: DelayLevels::default(),
            warm_mapped_file_enable: true,
            commit_log_pwrite_enable: true,
        }
    }
}

impl StoreConfig {
    /// A config rooted at `root` with defaults otherwise.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        StoreConfig { store_path_root_dir: root.into(), ..Default::default() }
    }

    /// The commit-log directory (late 4.9 accepts several, separated by `,`: we use the first).
    pub fn commit_log_dir(&self) -> PathBuf {
        let given = self.store_path_commit_log.as_ref().map(|p| p.display().to_string());
        match given.as_deref().and_then(|p| p.split(',').map(str::trim).find(|p| !p.is_empty())) {
            Some(first) => PathBuf::from(first),
            None => self.store_path_root_dir.join("commitlog"),
        }
    }

    /// Delay of each level in ms (index 0 = level 1).
    pub fn delay_levels_ms(&self) -> Vec<i64> {
        self.message_delay_level.ms().to_vec()
    }

    /// Consume-queue file size rounded down to whole 20-byte units (at least one).
    pub fn cq_file_size(&self) -> u64 {
        (self.mapped_file_size_consume_queue / 20).max(1) * 20
    }
}

/// Parse a delay table like `1s 5s 2m 1h 1d` into ms per level.
pub fn parse_delay_levels(s: &str) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        // Split before the last character (not byte: the unit may be any char).
        let cut = tok.char_indices().last().map(|(i, _)| i).unwrap_or(0);
        let (num, unit) = tok.split_at(cut);
        let mult = match unit {
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("'{tok}' needs a unit s/m/h/d")),
        };
        let n: i64 = num.parse().map_err(|_| format!("'{tok}' is not a number with a unit"))?;
        if n < 0 {
            return Err(format!("'{tok}' is negative"));
        }
        out.push(n * mult);
    }
    if out.is_empty() {
        return Err("no delay level".into());
    }
    Ok(out)
}

mq_common::config_keys!(StoreConfig {
    store_path_root_dir: "storePathRootDir", important;
    store_path_commit_log: "storePathCommitLog", important;
    mapped_file_size_commit_log: "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog";
    mapped_file_size_consume_queue: "mappedFileSizeConsumeQueue" | "mapedFileSizeConsumeQueue";
    flush_disk_type: "flushDiskType", important;
    flush_interval_commit_log: "flushIntervalCommitLog";
    flush_commit_log_least_pages: "flushCommitLogLeastPages";
    flush_commit_log_thorough_interval: "flushCommitLogThoroughInterval";
    flush_interval_consume_queue: "flushIntervalConsumeQueue";
    sync_flush_timeout: "syncFlushTimeout";
    file_reserved_time: "fileReservedTime", important, live;
    delete_when: "deleteWhen", important, live;
    disk_max_used_space_ratio: "diskMaxUsedSpaceRatio", important, live;
    clean_file_forcibly_enable: "cleanFileForciblyEnable", live;
    clean_resource_interval: "cleanResourceInterval";
    delete_commit_log_files_interval: "deleteCommitLogFilesInterval";
    max_message_size: "maxMessageSize", live;
    message_index_enable: "messageIndexEnable";
    max_hash_slot_num: "maxHashSlotNum";
    max_index_num: "maxIndexNum";
    check_crc_on_recover: "checkCRCOnRecover";
    message_delay_level: "messageDelayLevel";
    warm_mapped_file_enable: "warmMapedFileEnable" | "warmMappedFileEnable";
    commit_log_pwrite_enable: "commitLogPwriteEnable", important;
}
// Java 4.9 derives the first four from storePathRootDir; the others tune Java internals
// (transient pool, lock kind, flush batching) that have no counterpart here.
inert: "storePathConsumeQueue", "storePathIndex", "storeCheckpoint", "abortFile",
    "flushConsumeQueueLeastPages", "transientStorePoolEnable", "useReentrantLockWhenPutMessage",
    "flushLeastPagesWhenWarmMapedFile";
);

#[cfg(test)]
mod tests {
    use super::*;

    use mq_common::config::ConfigKeys;

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
        assert!(c.apply("messageDelayLevel", "1µ").is_err());
        assert!(c.apply("messageDelayLevel", "").is_err());
        assert_eq!(c.apply("storePathCommitLog", "/a, /b"), Ok(true));
        assert_eq!(c.commit_log_dir(), PathBuf::from("/a"));
        assert_eq!(
            c.apply("flushDiskType", "SYNC"),
            Err("'SYNC' is not one of ASYNC_FLUSH, SYNC_FLUSH".into())
        );
        assert_eq!(c.apply("abortFile", "/x"), Ok(true));
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
