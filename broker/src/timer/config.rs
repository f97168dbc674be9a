//! The timer's keys: Apache's `MessageStoreConfig` names and defaults, declared once with
//! `config_keys!` and reached through the broker config's `timer` field.

use mq_common::config::{parse_num, ConfigValue};

/// Keys [`TimerConfig`] declares.
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

/// `timerPrecisionMs`: always one of Java's precisions (100, 200, 500, 1000 ms); any other
/// value snaps down to one of them as Java's setter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerPrecision(i64);

impl TimerPrecision {
    /// The precision in ms.
    pub fn ms(self) -> i64 {
        self.0
    }
}

impl ConfigValue for TimerPrecision {
    fn parse_value(s: &str) -> Result<Self, String> {
        let p: i64 = parse_num(s)?;
        Ok(TimerPrecision(
            PRECISIONS.iter().rev().copied().find(|c| p >= *c).unwrap_or(PRECISIONS[0]),
        ))
    }
    fn render_value(&self) -> String {
        self.0.to_string()
    }
}

/// An integer key with a lower bound `MIN`, checked when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtLeast<const MIN: i64>(i64);

impl<const MIN: i64> AtLeast<MIN> {
    /// The value (≥ `MIN`).
    pub fn get(self) -> i64 {
        self.0
    }
}

impl<const MIN: i64> ConfigValue for AtLeast<MIN> {
    fn parse_value(s: &str) -> Result<Self, String> {
        let n: i64 = parse_num(s)?;
        if n < MIN {
            return Err(format!("'{}' is below the minimum of {MIN}", s.trim()));
        }
        Ok(AtLeast(n))
    }
    fn render_value(&self) -> String {
        self.0.to_string()
    }
}

/// Timer configuration (all fixed at startup: the engine is built from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerConfig {
    /// `timerWheelEnable` (true): with false, timer messages are refused (Java's
    /// WHEEL_TIMER_NOT_ENABLE) and pending ones wait until it is enabled again.
    pub enable: bool,
    /// `timerMaxDelaySec` (259,200 = 3 days): the furthest delivery time accepted.
    pub max_delay_sec: AtLeast<1>,
    /// `timerPrecisionMs` (1000; one of 100, 200, 500, 1000): width of a wheel slot, the
    /// rounding of `TIMER_OUT_MS`, and the bound on how late a message may be delivered.
    pub precision: TimerPrecision,
    /// `timerFlushIntervalMs` (1000, at least 10): how often the timer log is fsynced and the
    /// timer checkpoint written.
    pub flush_interval_ms: AtLeast<10>,
    /// `mappedFileSizeTimerLog` (100 MiB, at least 4096): size of one timer-log file
    /// (rounded down to whole entries).
    pub log_file_size: AtLeast<4096>,
    /// `timerCongestNumEachSlot` (2^31 − 1, i.e. off): slot population above which sends
    /// into that slot are refused at random, always at twice it (Java's flow control).
    pub congest_num_each_slot: AtLeast<1>,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            enable: true,
            max_delay_sec: AtLeast(3 * 24 * 3600),
            precision: TimerPrecision(1000),
            flush_interval_ms: AtLeast(1000),
            log_file_size: AtLeast(100 * 1024 * 1024),
            congest_num_each_slot: AtLeast(i32::MAX as i64),
        }
    }
}

mq_common::config_keys!(TimerConfig {
    enable: "timerWheelEnable";
    max_delay_sec: "timerMaxDelaySec";
    precision: "timerPrecisionMs";
    flush_interval_ms: "timerFlushIntervalMs";
    log_file_size: "mappedFileSizeTimerLog";
    congest_num_each_slot: "timerCongestNumEachSlot";
});

impl TimerConfig {
    /// The precision (slot width) in ms.
    pub fn precision_ms(&self) -> i64 {
        self.precision.ms()
    }

    /// The furthest delay accepted, in ms.
    pub fn max_delay_ms(&self) -> i64 {
        self.max_delay_sec.get().saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::config::{ConfigKeys, KeyEffect};

    #[test]
    fn precision_snaps_like_java() {
        let mut c = TimerConfig::default();
        for (given, snapped) in
            [("1", 100), ("150", 100), ("200", 200), ("499", 200), ("500", 500), ("5000", 1000)]
        {
            c.apply("timerPrecisionMs", given).unwrap();
            assert_eq!(c.precision_ms(), snapped, "{given}");
        }
    }

    #[test]
    fn keys_and_errors() {
        let mut c = TimerConfig::default();
        assert_eq!(c.apply("timerWheelEnable", "false"), Ok(true));
        assert!(!c.enable);
        assert_eq!(c.apply("timerMaxDelaySec", "60"), Ok(true));
        assert_eq!(c.max_delay_ms(), 60_000);
        assert!(c.apply("timerMaxDelaySec", "0").unwrap_err().contains("minimum of 1"));
        assert!(c.apply("timerWheelEnable", "maybe").is_err());
        assert!(c.apply("mappedFileSizeTimerLog", "10").is_err());
        assert_eq!(c.apply("brokerName", "x"), Ok(false));
        assert_eq!(c.entries().len(), TIMER_KEYS.len());
        assert!(c.entries().iter().all(|e| TIMER_KEYS.contains(&e.key)));
        assert!(TIMER_KEYS.iter().all(|k| c.key_effect(k) == Some(KeyEffect::Restart)));
    }
}
