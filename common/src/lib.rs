//! Common building blocks of rmq: the RocketMQ remoting protocol (a pure codec), the stored
//! message record codec, the Java-properties config loader and async remoting on tokio.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
#[cfg(feature = "http")]
pub mod http;
pub mod message;
pub mod protocol;
pub mod remoting;
