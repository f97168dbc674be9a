//! The RocketMQ remoting protocol as a pure, sans-IO codec (spec §1–2).
//!
//! - [`frame`]: frame encode/decode with size limits; decode returns `Ok(None)` until a whole
//!   frame is buffered.
//! - [`command`]: [`RemotingCommand`], one request or response.
//! - [`json_header`] / [`binary_header`]: the two header serializations (lenient JSON in, strict
//!   compact JSON out).
//! - [`codes`]: request and response codes.
//! - [`header`]: typed custom headers for every request we serve.
//! - [`body`]: JSON bodies with Java field names (routes, topic configs, heartbeats, ...).
//! - [`lenient_json`]: parsing fastjson's not-quite-JSON.

pub mod binary_header;
pub mod body;
pub mod codes;
pub mod command;
pub mod ext_fields;
pub mod frame;
pub mod header;
pub mod json_header;
pub mod lenient_json;

pub use command::{ExtFields, RemotingCommand, SerializeType};
pub use header::{CommandHeader, HeaderError};

/// Milliseconds since the Unix epoch (wall clock), as Java's `System.currentTimeMillis()`.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
