//! Request timing hook for servers (`rocketmq_rpc_latency`): the connection's reader times
//! every request it dispatches with one clock read per request.
//!
//! Requests of one connection are handled one after the other on its reader task, so the
//! reading taken when request *n* is answered is also when request *n + 1* starts; the clock
//! is read fresh only when the reader resumes after waiting (a socket read, a backpressure
//! pause). Timing here rather than in each handler halves the clock reads and gives the broker
//! and the name server the same measure: from the request's frame being decoded to its response
//! being queued (or to the handler returning, for a response sent later).

use crate::protocol::RemotingCommand;

/// Receives the timing of every request a server's connections dispatch.
pub trait RequestTimer: Send + Sync + std::fmt::Debug + 'static {
    /// A clock reading in the timer's own units (a raw CPU counter is fine).
    fn now(&self) -> u64;

    /// Request `code` was answered with `response` (`None`: sent later or never, e.g.
    /// long polling, SYNC_FLUSH, oneway) between the readings `start` and `end`.
    fn observe(&self, code: i32, response: Option<&RemotingCommand>, start: u64, end: u64);
}
