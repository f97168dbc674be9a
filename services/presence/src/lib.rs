//! # presence-service
//!
//! Tracks who is online from the connection events and per-queue batch heartbeats the chat
//! gateways publish on `presence_heartbeat`, applies Rocket.Chat's status rules, and publishes
//! status changes on `presence_events` plus per-queue snapshots on `presence_state`
//! (design `docs/chat-presence.md` §5). All data goes through the broker; HTTP is for health,
//! status queries, stats and metrics only.
//!
//! * [`engine`]: the pure state machine (rules, leases, TTL reaper, warm-up, outage grace).
//! * [`config`]: environment variables.
//! * [`publisher`]: ordered per-queue publishing lanes.
//! * [`service`]: broker wiring (consumers, ticker, broker probe).
//! * [`http`]: `/health`, `/ready`, `/v1/status`, `/v1/stats`, `/metrics`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod http;
pub mod publisher;
pub mod service;
