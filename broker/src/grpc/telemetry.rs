//! Telemetry (spec §6): every Settings the client sends is answered with
//! `{status OK, settings merged}` on the same stream, the server-owned values filled in; the
//! client is registered as producer (group = each topic, as Apache does: transaction checks
//! find it that way) or as a clustering consumer. The stream also carries server → client
//! commands (transaction checks, see `transaction.rs`).

use std::sync::Arc;

use futures::StreamExt;
use mq_common::protocol::body::{system_topics, SubscriptionData, PERM_READ, PERM_WRITE};
use mq_common::protocol::now_millis;
use mq_grpc_proto::v2::{
    retry_policy, settings::PubSub, telemetry_command::Command, ClientType, CustomizedBackoff,
    ExponentialBackoff, FilterType, Metric, RetryPolicy, Settings, Subscription, TelemetryCommand,
};
use mq_grpc_proto::Duration;

use super::session::Session;
use super::status::ok;
use super::GrpcService;
use crate::client_link::ClientLink;
use crate::consumer_manager::ClientChannel;

/// Messages a receive returns at most (Apache's default `receive_batch_size`).
pub const RECEIVE_BATCH_SIZE: i32 = 32;

fn dur_ms(ms: i64) -> Duration {
    Duration { seconds: ms / 1000, nanos: ((ms % 1000) * 1_000_000) as i32 }
}

/// Apache's default group retry delays (the delay levels from 1 s).
fn customized_backoff() -> CustomizedBackoff {
    let next =
        [1, 5, 10, 30, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, 1800, 3600, 7200]
            .into_iter()
            .map(|s| dur_ms(s * 1000))
            .collect();
    CustomizedBackoff { next }
}

/// The subscription data a gRPC consumer's Settings describe.
pub fn subscriptions_of(sub: &Subscription) -> Vec<SubscriptionData> {
    sub.subscriptions
        .iter()
        .filter_map(|e| {
            let topic = e.topic.as_ref()?.name.clone();
            let (expr, ty) = match &e.expression {
                Some(f) if f.r#type == FilterType::Sql as i32 => (f.expression.clone(), "SQL92"),
                Some(f) => (f.expression.clone(), "TAG"),
                None => ("*".to_string(), "TAG"),
            };
            let expr = if expr.trim().is_empty() { "*".to_string() } else { expr };
            SubscriptionData::from_expression(&topic, &expr, Some(ty), now_millis()).ok()
        })
        .collect()
}

impl GrpcService {
    /// Merge a client's Settings with the server-owned values, register the client, and
    /// return the answer.
    pub(crate) fn apply_settings(&self, s: &Arc<Session>, mut settings: Settings) -> Settings {
        let b = &self.b;
        settings.metric = Some(Metric { on: false, endpoints: None });
        let link = ClientLink::Grpc(s.clone());
        let client = ClientChannel {
            channel: link,
            client_id: s.client_id.clone(),
            language: s.language.clone(),
            version: 0,
            last_update: now_millis(),
        };
        match settings.pub_sub.as_mut() {
            Some(PubSub::Publishing(p)) => {
                p.max_body_size =
                    b.store.live_config().max_message_size().min(i32::MAX as usize) as i32;
                p.validate_message_type = true;
                for t in &p.topics {
                    b.producers.register(&t.name, client.clone());
                }
                settings.backoff_policy = Some(RetryPolicy {
                    max_attempts: 3,
                    strategy: Some(retry_policy::Strategy::ExponentialBackoff(
                        ExponentialBackoff {
                            initial: Some(dur_ms(10)),
                            max: Some(dur_ms(1000)),
                            multiplier: 2.0,
                        },
                    )),
                });
            }
            Some(PubSub::Subscription(sub)) => {
                let group = sub.group.as_ref().map(|g| g.name.clone()).unwrap_or_default();
                let gc = b.groups.find_or_create(&group);
                let fifo = gc.as_ref().is_some_and(|g| g.consume_message_orderly);
                let max_attempts = gc.as_ref().map(|g| g.retry_max_times + 1).unwrap_or(17);
                sub.fifo = Some(fifo);
                sub.receive_batch_size = Some(RECEIVE_BATCH_SIZE);
                sub.long_polling_timeout = Some(dur_ms(super::consume::max_poll_ms(b)));
                // The group's retry delays (Apache's default customized policy). The Node SDK
                // (1.0.8) reads only an exponential policy and otherwise allows one attempt
                // (a failing FIFO message would go straight to the DLQ): it gets Apache's
                // exponential shape starting at 1 s instead.
                let node = settings
                    .user_agent
                    .as_ref()
                    .is_some_and(|ua| ua.language == mq_grpc_proto::v2::Language::NodeJs as i32);
                let strategy = if node {
                    retry_policy::Strategy::ExponentialBackoff(ExponentialBackoff {
                        initial: Some(dur_ms(1000)),
                        max: Some(dur_ms(7_200_000)),
                        multiplier: 2.0,
                    })
                } else {
                    retry_policy::Strategy::CustomizedBackoff(customized_backoff())
                };
                settings.backoff_policy =
                    Some(RetryPolicy { max_attempts, strategy: Some(strategy) });
                if !group.is_empty() {
                    if gc.is_some() {
                        let retry = system_topics::retry_topic(&group);
                        b.topics.ensure(&retry, 1, PERM_READ | PERM_WRITE);
                    }
                    let consume_type =
                        if settings.client_type == Some(ClientType::PushConsumer as i32) {
                            "CONSUME_PASSIVELY"
                        } else {
                            "CONSUME_ACTIVELY"
                        };
                    b.consumers.register(
                        &group,
                        client,
                        consume_type,
                        "CLUSTERING",
                        "CONSUME_FROM_LAST_OFFSET",
                        subscriptions_of(sub),
                    );
                }
            }
            None => {}
        }
        s.set_settings(settings.clone());
        settings
    }

    /// Serve one Telemetry stream until the client closes it.
    pub(crate) fn serve_telemetry(
        &self,
        session: Arc<Session>,
        mut inbound: tonic::Streaming<TelemetryCommand>,
    ) -> tokio::sync::mpsc::Receiver<Result<TelemetryCommand, tonic::Status>> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        session.set_telemetry(tx.clone());
        let svc = self.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    n = inbound.next() => n,
                    _ = svc.b.shutdown.cancelled() => None,
                    _ = tx.closed() => None,
                };
                let cmd = match next {
                    Some(Ok(c)) => c,
                    Some(Err(e)) => {
                        tracing::debug!(client = %session.client_id, error = %e, "telemetry stream error");
                        break;
                    }
                    None => break,
                };
                match cmd.command {
                    Some(Command::Settings(s)) => {
                        if s.pub_sub.is_none() {
                            let _ = tx
                                .send(Err(tonic::Status::invalid_argument(
                                    "settings carry neither publishing nor subscription",
                                )))
                                .await;
                            break;
                        }
                        let merged = svc.apply_settings(&session, s);
                        let answer = TelemetryCommand {
                            status: ok(),
                            command: Some(Command::Settings(merged)),
                        };
                        svc.b.grpc.counters.count("Telemetry", &answer.status);
                        if tx.send(Ok(answer)).await.is_err() {
                            break;
                        }
                    }
                    Some(Command::ThreadStackTrace(t)) => {
                        tracing::info!(client = %session.client_id, nonce = %t.nonce, "thread stack trace received");
                    }
                    Some(Command::VerifyMessageResult(v)) => {
                        tracing::info!(client = %session.client_id, nonce = %v.nonce, "verify message result received");
                    }
                    _ => {}
                }
            }
            session.drop_telemetry(&tx);
        });
        rx
    }
}
