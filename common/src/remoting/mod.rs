//! Async remoting on tokio: the server side (accept loop, connection limit, graceful
//! shutdown, dispatch to a [`RequestHandler`]) and the client side (per-address connections,
//! opaque → response matching, timeouts, oneway, server-initiated requests).
//!
//! Both sides share [`Channel`]: one TCP connection with a reader task and a writer task.
//! Requests are handled inline on the reader task, in arrival order (ordered producers rely on
//! it, and staying on one task avoids a ~60 µs cross-core wake-up per request); a handler that
//! must wait (long polling, SYNC_FLUSH) answers later through [`Channel::respond`]. The writer
//! task drains every queued frame into one buffer per `write` (write coalescing: this machine
//! manages only ~220k write syscalls/s).

mod channel;
pub mod client;
mod coalesce;
mod reply;
pub mod server;
mod stats;
mod timing;
pub mod tls;

pub use channel::{Channel, ChannelEvents, ChannelOptions, OutputLimits, RemotingError};
pub use client::{ClientConfig, RemotingClient, ServerRequestHandler};
pub use coalesce::CoalescingIo;
pub use reply::{header, Reply};
pub use server::{accept_backing_off, RemotingServer, RequestHandler, ServerConfig};
pub use stats::{ConnectionStats, ConnectionStatsSnapshot};
pub use timing::RequestTimer;
pub use tls::{Accepted, ReloadingAcceptor, TlsClient, TlsServer};
