//! Timer messages (RocketMQ 5 "arbitrary delay"): a message carrying `TIMER_DELIVER_MS`
//! (absolute ms), `TIMER_DELAY_SEC` or `TIMER_DELAY_MS` (relative), or Aliyun's
//! `__STARTDELIVERTIME`, is held back until that time, up to `timerMaxDelaySec` ahead, and then
//! delivered once to its topic. The 18 delay levels (`crate::schedule`) are separate and
//! unchanged.
//!
//! * [`intercept`]: on every put path, the message is rewritten into `rmq_sys_wheel_timer`
//!   (queue 0) with `REAL_TOPIC`/`REAL_QID`/`TIMER_OUT_MS`, as Java does, or refused with
//!   Java's code and remark. It is then acknowledged like any message: durability is the
//!   store's.
//! * [`service`]: two threads move those records into a hashed timer wheel ([`wheel`]: slot
//!   heads in memory) over an on-disk timer log ([`log`]: 48-byte entries linked per slot),
//!   and deliver each at its millisecond as a copy to the real topic ([`deliver`]).
//! * [`checkpoint`] and [`recover`]: after a clean stop or a crash the state is rebuilt from
//!   the checkpoint, the log and the commit log, which stays the source of truth: every timer
//!   record is delivered, and a copy already in the commit log is never made twice.
//! * [`role`]: controller mode, the engine starts on promotion (rebuilt from the commit log)
//!   and stops on demotion.
//!
//! Design notes and the exact invariants: `docs/timer.md`.

pub mod checkpoint;
pub mod config;
pub mod deliver;
pub mod intercept;
pub mod log;
mod recover;
pub mod role;
pub mod service;
pub mod wheel;

pub use config::{TimerConfig, TIMER_KEYS};
pub use intercept::{Intercepted, TimerReject};
pub use mq_common::protocol::body::system_topics::WHEEL_TIMER_TOPIC;
pub use service::{TimerService, TimerStats};
