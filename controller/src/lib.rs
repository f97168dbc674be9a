//! rmq controller (`mqcontroller`): RocketMQ 5 controller mode. A small Raft group (openraft)
//! replicates, per broker group, its replicas, master, master epoch and sync state set; the
//! leader elects a new master from the sync state set when the master stops heart-beating.
//! Brokers and admin tools use Java's controller request codes (see `docs/controller.md`).
//!
//! - [`config`]: `ControllerConfig` (Java key names).
//! - [`replicas`]: the replicated table and its commands (validated when applied).
//! - [`raft_types`], [`log_store`], [`state_machine`], [`network`]: openraft glue.
//! - [`liveness`]: broker heartbeats and connections; [`scanner`]: the leader's master-loss
//!   detection; [`notify`]: role-change pushes to brokers.
//! - [`processor`]: the request handler; [`node`]: start/shutdown of one replica.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod files;
pub mod liveness;
pub mod log_store;
pub mod network;
pub mod node;
pub mod notify;
pub mod processor;
pub mod raft_types;
pub mod replicas;
pub mod scanner;
pub mod state_machine;

pub use config::ControllerConfig;
pub use node::{ControllerNode, StartError};
