//! The RocketMQ 5.x gRPC protocol (`apache.rocketmq.v2`): prost messages and the tonic
//! `MessagingService` server and client, generated at build time from this crate's own
//! `.proto` files (written from the design notes' field tables, `docs/grpc.md` §3; not copied
//! from upstream).
#![forbid(unsafe_code)]

/// Generated types of package `apache.rocketmq.v2`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v2 {
    tonic::include_proto!("apache.rocketmq.v2");
    pub use crate::receive::{receive_message_response, ReceiveMessageResponse};
}

mod receive;

pub use prost_types::{Duration, Timestamp};
pub use v2::messaging_service_client::MessagingServiceClient;
pub use v2::messaging_service_server::{MessagingService, MessagingServiceServer};
