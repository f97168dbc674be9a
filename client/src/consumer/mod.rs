//! Consumers: [`PushConsumer`] (the broker's messages are pushed to a handler; clustering or
//! broadcasting, concurrent or orderly), [`PullConsumer`] (the application polls queues it
//! assigned itself) and [`SimpleConsumer`] (POP: receive with an invisible time, ack each).

pub mod allocate;
mod client_requests;
mod consume;
pub mod fetch;
pub(crate) mod offset_store;
mod orderly;
pub mod process_queue;
mod pull;
mod push;
mod rebalance;
mod selector;
mod simple;

use std::future::Future;
use std::pin::Pin;

use mq_common::message::MessageExt;

pub use pull::{PullConsumer, PullConsumerBuilder};
pub use push::{PushConsumer, PushConsumerBuilder};
pub use selector::MessageSelector;
pub use simple::{ReceivedMessage, SimpleConsumer, SimpleConsumerBuilder};

/// Where a group with no committed offset starts reading a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConsumeFromWhere {
    /// From the end: only new messages (default, as Java).
    #[default]
    Last,
    /// From the first message still stored.
    First,
    /// From the first message stored at or after this time (ms since epoch).
    Timestamp(i64),
}

impl ConsumeFromWhere {
    /// The Java enum name sent in heartbeats.
    pub fn java_name(&self) -> &'static str {
        match self {
            ConsumeFromWhere::Last => "CONSUME_FROM_LAST_OFFSET",
            ConsumeFromWhere::First => "CONSUME_FROM_FIRST_OFFSET",
            ConsumeFromWhere::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
        }
    }
}

/// How a group shares messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MessageModel {
    /// Each message goes to one member; queues are divided among members (default).
    #[default]
    Clustering,
    /// Every member gets every message; offsets are kept locally.
    Broadcasting,
}

impl MessageModel {
    /// The Java enum name sent in heartbeats.
    pub fn java_name(&self) -> &'static str {
        match self {
            MessageModel::Clustering => "CLUSTERING",
            MessageModel::Broadcasting => "BROADCASTING",
        }
    }
}

/// The error a handler returns to ask for redelivery.
pub type ConsumeError = Box<dyn std::error::Error + Send + Sync>;

/// Boxed future of a handler.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), ConsumeError>> + Send>>;

/// Processes one message. `Ok` acknowledges it; `Err` asks for redelivery (clustering: through
/// the group's retry topic with growing delays, then the DLQ; orderly: the queue is suspended
/// and the same message is retried locally).
///
/// Implemented for every `Fn(MessageExt) -> impl Future<Output = Result<(), ConsumeError>>`.
pub trait MessageHandler: Send + Sync + 'static {
    /// Handle one message.
    fn handle(&self, msg: MessageExt) -> HandlerFuture;
}

impl<F, Fut> MessageHandler for F
where
    F: Fn(MessageExt) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ConsumeError>> + Send + 'static,
{
    fn handle(&self, msg: MessageExt) -> HandlerFuture {
        Box::pin(self(msg))
    }
}
