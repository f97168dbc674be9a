//! Common building blocks of rmq: the RocketMQ remoting protocol (a pure codec), the stored
//! message record codec, the Java-properties config loader and async remoting on tokio.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acl;
pub mod config;
pub mod filter;
pub mod fnv;
#[cfg(feature = "http")]
pub mod http;
pub mod log_limit;
#[cfg(feature = "logging")]
pub mod logging;
pub mod message;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod probe;
pub mod protocol;
pub mod remoting;
pub mod shutdown;
