//! rmq broker (`mqbroker`): a RocketMQ-compatible broker speaking the classic remoting
//! protocol. [`controller::BrokerController`] runs one in-process.
// `unsafe` lives in the store only (mapped files and a few syscalls), where each use is argued.
#![deny(unsafe_code)]

pub mod auto_create_limit;
pub mod broker;
pub mod client_link;
pub mod config;
pub mod consumer_manager;
pub mod controller;
pub mod grpc;
pub mod ha;
pub mod json_file;
pub mod lock_manager;
pub mod long_polling;
pub mod metrics;
pub mod namesrv_api;
pub mod offset_manager;
pub mod pop;
pub mod processor;
pub mod producer_manager;
pub mod schedule;
pub mod stats;
#[allow(unsafe_code)]
pub mod store;
pub mod subscription_manager;
pub mod timer;
pub mod topic_manager;
pub mod transaction_checker;

pub use config::BrokerConfig;
pub use controller::BrokerController;
