//! Producer and consumer start-up shared by the chat gateway, the observer, the gateway's
//! presence extension and the presence service: one place for the client identity, the
//! route/heartbeat/rebalance period and the long-polling timings.

use std::time::Duration;

use anyhow::Context;
use mq_client::consumer::PushConsumerBuilder;
use mq_client::options::{parse_namesrv_addrs, ClientOptions};
use mq_client::{MessageModel, Producer, PushConsumer};

use crate::config::Common;

/// Long-polling timings of a push consumer.
#[derive(Debug, Clone, Copy)]
pub struct PullTimings {
    /// How long the broker holds an empty pull.
    pub suspend: Duration,
    /// RPC timeout of one pull (longer than `suspend`).
    pub timeout: Duration,
    /// Pause after a failed pull.
    pub backoff: Duration,
}

/// Chat topics: 5 s long polls.
pub const CHAT_PULL: PullTimings = PullTimings {
    suspend: Duration::from_secs(5),
    timeout: Duration::from_secs(10),
    backoff: Duration::from_millis(500),
};
/// Presence topics: 2 s long polls (presence reacts within one sync period).
pub const PRESENCE_PULL: PullTimings = PullTimings {
    suspend: Duration::from_secs(2),
    timeout: Duration::from_secs(5),
    backoff: Duration::from_millis(300),
};

/// The identity and timings every client of one service process shares.
#[derive(Debug, Clone)]
pub struct ServiceClients {
    /// Nameserver list (`;`-separated).
    pub namesrv: String,
    /// Client instance name (part of the client id).
    pub instance: String,
    /// Route refresh, heartbeat and rebalance period (`BROKER_HEARTBEAT_INTERVAL`).
    pub refresh: Duration,
    /// Timeout of one send attempt.
    pub send_timeout: Duration,
}

impl ServiceClients {
    /// Clients of a chat binary: instance `<INSTANCE_ID>-<pid>`, so a restarted process is a
    /// new group member even before the broker drops the old connection.
    pub fn from_common(c: &Common) -> Self {
        ServiceClients {
            namesrv: c.namesrv.clone(),
            instance: format!("{}-{}", c.instance_id, std::process::id()),
            refresh: c.client_refresh,
            send_timeout: c.send_timeout,
        }
    }

    /// The same, with another instance name.
    pub fn named(&self, instance: impl Into<String>) -> Self {
        ServiceClients { instance: instance.into(), ..self.clone() }
    }

    /// Connection-level options of these clients.
    pub fn options(&self) -> ClientOptions {
        ClientOptions {
            namesrv_addrs: parse_namesrv_addrs(&self.namesrv),
            instance_name: Some(self.instance.clone()),
            route_refresh_interval: self.refresh,
            heartbeat_interval: self.refresh,
            ..ClientOptions::default()
        }
    }

    /// Start a producer of `group` with `retries` extra attempts; `what` names it in errors.
    pub async fn producer(
        &self,
        group: &str,
        retries: usize,
        what: &str,
    ) -> anyhow::Result<Producer> {
        Producer::builder()
            .client_options(self.options())
            .group(group)
            .send_timeout(self.send_timeout)
            .retries(retries)
            .start()
            .await
            .with_context(|| format!("start {what}"))
    }

    /// An orderly push consumer of `group` on every tag of `topic` (all our consumers are
    /// orderly: per-conversation / per-user order). The caller adds what differs (start
    /// position, offsets dir, locks, shutdown timeout) and starts it.
    pub fn orderly_consumer(
        &self,
        group: &str,
        topic: &str,
        model: MessageModel,
        pull: PullTimings,
    ) -> PushConsumerBuilder {
        PushConsumer::builder()
            .client_options(self.options())
            .group(group)
            .subscribe(topic, "*")
            .message_model(model)
            .orderly(true)
            .pull_suspend(pull.suspend)
            .pull_timeout(pull.timeout)
            .pull_backoff(pull.backoff)
            .rebalance_interval(self.refresh)
    }
}
