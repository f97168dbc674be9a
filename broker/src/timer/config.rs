//! The timer's keys: Apache's `MessageStoreConfig` names and defaults.

use crate::config::{parse_bool, parse_num};

/// Keys [`TimerConfig::apply`] owns.
pub const TIMER_KEYS: &[&str] = &[
    "timerWheelEnable",
    "timerMaxDelaySec",
    "timerPrecisionMs",
    "timerFlushIntervalMs",
    "mappedFileSizeTimerLog",
    "timerCongestNumEachSlot",
];

/// Java's only precisions: `setTimerPrecisionMs` snaps any other value down to one of these
/// (anything under 200 becomes 100).
const PRECISIONS: [i64; 4] = [100, 200, 500, 1000];

/// Timer configuration (all fixed at startup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerConfig {
    /// `timerWheelEnable` (true): with false, timer messages are refused (Java's
    /// WHEEL_TIMER_NOT_ENABLE) and pending ones wait until it is enabled again.
    pub enable: bool,
    /// `timerMaxDelaySec` (259,200 = 3 days): the furthest delivery time accepted.
    pub max_delay_sec: i64,
    /// `timerPrecisionMs` (1000; one of 100, 200, 500, 1000): width of a wheel slot, the
    /// rounding of `TIMER_OUT_MS`, and the bound on how late a message may be delivered.
    pub precision_ms: i64,
    /// `timerFlushIntervalMs` (1000): how often the timer log is fsynced and the timer
    /// checkpoint written.
    pub flush_interval_ms: u64,
    /// `mappedFileSizeTimerLog` (100 MiB): size of one timer-log file (rounded down to whole
    /// entries).
    pub log_file_size: u64,
    /// `timerCongestNumEachSlot` (2^31 − 1, i.e. off): slot population above which sends
    /// into that slot are refused at random, always at twice it (Java's flow control).
    pub congest_num_each_slot: i64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            enable: true,
            max_delay_sec: 3 * 24 * 3600,
            precision_ms: 1000,
            flush_interval_ms: 1000,
            log_file_size: 100 * 1024 * 1024,
            congest_num_each_slot: i32::MAX as i64,
        }
    }
}

impl TimerConfig {
    /// Apply one key. `Ok(false)` = not a timer key; `Err` names the key and value.
    pub fn apply(&mut self, key: &str, v: &str) -> Result<bool, String> {
        let v = v.trim();
        match key {
            "timerWheelEnable" => self.enable = parse_bool(key, v)?,
            "timerMaxDelaySec" => {
                let s: i64 = parse_num(key, v)?;
                if s <= 0 {
                    return Err(format!("{key}: '{v}' must be positive"));
                }
                self.max_delay_sec = s;
            }
            "timerPrecisionMs" => {
                let p: i64 = parse_num(key, v)?;
                self.precision_ms =
                    PRECISIONS.iter().rev().copied().find(|c| p >= *c).unwrap_or(PRECISIONS[0]);
            }
            "timerFlushIntervalMs" => {
                let ms: u64 = parse_num(key, v)?;
                self.flush_interval_ms = ms.max(10);
            }
            "mappedFileSizeTimerLog" => {
                let n: u64 = parse_num(key, v)?;
                if n < 4096 {
                    return Err(format!("{key}: '{v}' is below the minimum of 4096 bytes"));
                }
                self.log_file_size = n;
            }
            "timerCongestNumEachSlot" => {
                let n: i64 = parse_num(key, v)?;
                if n <= 0 {
                    return Err(format!("{key}: '{v}' must be positive"));
                }
                self.congest_num_each_slot = n;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `(key, value)` of every timer key, for `-p` and GET_BROKER_CONFIG.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        vec![
            ("timerWheelEnable", self.enable.to_string()),
            ("timerMaxDelaySec", self.max_delay_sec.to_string()),
            ("timerPrecisionMs", self.precision_ms.to_string()),
            ("timerFlushIntervalMs", self.flush_interval_ms.to_string()),
            ("mappedFileSizeTimerLog", self.log_file_size.to_string()),
            ("timerCongestNumEachSlot", self.congest_num_each_slot.to_string()),
        ]
    }

    /// The furthest delay accepted, in ms.
    pub fn max_delay_ms(&self) -> i64 {
        self.max_delay_sec.saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_snaps_like_java() {
        let mut c = TimerConfig::default();
        for (given, snapped) in
            [("1", 100), ("150", 100), ("200", 200), ("499", 200), ("500", 500), ("5000", 1000)]
        {
            c.apply("timerPrecisionMs", given).unwrap();
            assert_eq!(c.precision_ms, snapped, "{given}");
        }
    }

    #[test]
    fn keys_and_errors() {
        let mut c = TimerConfig::default();
        assert_eq!(c.apply("timerWheelEnable", "false"), Ok(true));
        assert!(!c.enable);
        assert_eq!(c.apply("timerMaxDelaySec", "60"), Ok(true));
        assert_eq!(c.max_delay_ms(), 60_000);
        assert!(c.apply("timerMaxDelaySec", "0").unwrap_err().contains("timerMaxDelaySec"));
        assert!(c.apply("timerWheelEnable", "maybe").unwrap_err().contains("timerWheelEnable"));
        assert!(c.apply("mappedFileSizeTimerLog", "10").is_err());
        assert_eq!(c.apply("brokerName", "x"), Ok(false));
        assert_eq!(c.entries().len(), TIMER_KEYS.len());
        assert!(c.entries().iter().all(|(k, _)| TIMER_KEYS.contains(k)));
    }
}
