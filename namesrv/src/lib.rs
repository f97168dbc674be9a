//! rmq name server (`mqnamesrv`): a RocketMQ-compatible routing registry (spec §5).
//!
//! Brokers register their topics (REGISTER_BROKER) and are evicted when silent or when their
//! registration connection closes; clients look up topic routes (GET_ROUTEINFO_BY_TOPIC);
//! admins manage KV config and write permissions.
//!
//! - [`config`]: `NamesrvConfig` under Apache's key names.
//! - [`route_info`]: the route tables and their operations.
//! - [`kv_config`]: the persisted KV config.
//! - [`processor`]: one file per request family, and the dispatcher.
//! - [`scanner`]: the expiry service.
//! - [`controller`]: start/shutdown of the whole server (in-process for tests).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod controller;
pub mod kv_config;
pub mod metrics;
pub mod processor;
pub mod route_info;
pub mod scanner;
pub mod state;

pub use config::NamesrvConfig;
pub use controller::{NamesrvController, StartError};
