//! # mq-client: an async RocketMQ-protocol client
//!
//! Speaks only the public RocketMQ remoting protocol, so it works against our broker and any
//! other RocketMQ 4.x/5.x-compatible broker.
//!
//! * [`Producer`]: sync-style `send` (awaits the broker), `send_oneway`, batches, delay levels,
//!   ordered sends through a [`MessageQueueSelector`].
//! * [`PushConsumer`]: clustering (rebalanced across group members) or broadcasting, long-polling
//!   pulls, flow control, retries through the broker, orderly mode.
//! * [`PullConsumer`]: explicit queue assignment, seek, poll, commit.
//! * [`Admin`]: the operations behind the `mqadmin` binary.
//!
//! ```no_run
//! use mq_client::{Message, Producer, PushConsumer, ConsumeFromWhere};
//! # async fn demo() -> Result<(), mq_client::ClientError> {
//! let producer = Producer::builder().namesrv_addr("127.0.0.1:9876").group("PG").start().await?;
//! producer.send(Message::new("TopicTest", "hello")).await?;
//!
//! let consumer = PushConsumer::builder()
//!     .namesrv_addr("127.0.0.1:9876")
//!     .group("CG")
//!     .subscribe("TopicTest", "*")
//!     .consume_from(ConsumeFromWhere::First)
//!     .start(|msg: mq_client::MessageExt| async move {
//!         println!("{}", String::from_utf8_lossy(&msg.body));
//!         Ok(())
//!     })
//!     .await?;
//! consumer.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod consumer;
pub mod error;
mod instance;
pub mod options;
pub mod producer;
pub mod route;

pub use admin::Admin;
pub use consumer::{
    ConsumeFromWhere, MessageModel, MessageSelector, PullConsumer, PushConsumer, ReceivedMessage,
    SimpleConsumer,
};
pub use error::{ClientError, Result};
pub use mq_common::message::{Message, MessageExt};
pub use mq_common::protocol::body::MessageQueue;
pub use producer::{MessageQueueSelector, Producer, SelectByHash, SendResult, SendStatus};
