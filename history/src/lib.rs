//! Jepsen-style histories for rmq (docs/history.md).
//!
//! Drivers ([`drive`] with our client, `interop/history.js` with ali-ons) record every send
//! and its outcome, read-backs ([`readback`]) record every stored message, a fault
//! [`schedule`] records the faults it injects, all as JSONL [`event`]s; the [`check`]er reads
//! the merged histories and proves that no acknowledged message was lost and no queue offset
//! holds two different messages, reporting each violation with its timeline.
//! The binary `mqhistory` runs the checker, the driver and the read-back from the shell.

pub mod check;
pub mod drive;
pub mod event;
pub mod readback;
pub mod recorder;
pub mod schedule;

pub use check::{check, load, Problem, Report};
pub use event::{body_hash, Event, Kind, Via};
pub use recorder::Recorder;
