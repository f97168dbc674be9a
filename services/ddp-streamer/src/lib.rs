//! # chat-ddp-streamer: the chat gateway and the inbox observer
//!
//! Both binaries talk to each other only through the rmq broker, with `mq-client`
//! (design `docs/chat-presence.md` §4):
//!
//! * [`gateway`] — DDP over WebSocket for browsers; publishes requests to `chat_outgoing`,
//!   consumes `chat_inbox` in broadcasting mode and pushes events to the recipients' sockets;
//!   history and gap-fill straight from the broker.
//! * [`observer`] — consumes `chat_outgoing` in clustering + orderly mode, re-verifies the JWT,
//!   enforces blocks, removes duplicates and publishes accepted events to `chat_inbox`.
//! * [`broker`] — topic setup, the shard selector and small broker reads shared by both.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod broker;
pub mod clients;
pub mod config;
pub mod dedupe;
pub mod env;
pub mod gateway;
pub mod metrics;
pub mod observer;
pub mod offsets_dir;

/// Initialise `tracing` the way every rmq binary does ([`mq_common::logging`]): `RUST_LOG`,
/// else `LOG_LEVEL`, else `info`; `LOG_FORMAT=json`; stdout, or `LOG_FILE_PATH` rotated by
/// size. A bad value exits with status 2 naming the variable.
pub fn init_tracing(binary: &str) {
    mq_common::logging::init_from_env(binary, "info", mq_common::logging::LogTarget::Stdout);
}
