//! Broker plumbing shared by the gateway and the observer: topic setup with the queue-count
//! check, the conversation shard selector, and direct reads of `chat_inbox` (query by key, pull
//! by offset) for history, gap-fill, recovery dedupe and state rebuilds.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chat_proto::ids::shard;
use mq_client::admin::BrokerTarget;
use mq_client::consumer::fetch::PullStatus;
use mq_client::{Admin, MessageExt, MessageQueue, MessageQueueSelector};
use mq_common::protocol::body::{TopicConfig, PERM_READ, PERM_WRITE};

/// Picks the queue `fnv1a32(rid) % n` (design §3). Queues are matched by id, not by position,
/// so the choice does not depend on the order the route lists them in.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardSelector;

impl MessageQueueSelector for ShardSelector {
    fn select(&self, queues: &[MessageQueue], arg: &str) -> MessageQueue {
        let want = shard(arg, queues.len()) as i32;
        queues
            .iter()
            .find(|q| q.queue_id == want)
            .unwrap_or(&queues[want as usize % queues.len()])
            .clone()
    }
}

/// Make sure `topics` exist with `queues` write queues. A missing topic is created on every
/// master (when `create`); an existing one with another count is a fatal error, because a
/// silent re-sharding would break per-conversation order.
pub async fn ensure_topics(
    admin: &Admin,
    topics: &[&str],
    queues: i32,
    create: bool,
    wait: Duration,
) -> anyhow::Result<()> {
    for topic in topics {
        let existing = admin.topic_route(topic).await.ok().filter(|r| !r.queue_datas.is_empty());
        if existing.is_none() && create {
            let deadline = Instant::now() + wait;
            loop {
                let masters = admin.master_addrs(None).await.unwrap_or_default();
                if !masters.is_empty() {
                    let tc = TopicConfig::new(*topic, queues, PERM_READ | PERM_WRITE);
                    for addr in masters {
                        admin
                            .create_topic(&BrokerTarget::Addr(addr.clone()), &tc)
                            .await
                            .with_context(|| format!("create topic {topic} on {addr}"))?;
                    }
                    tracing::info!(topic, queues, "created topic");
                    break;
                }
                if Instant::now() > deadline {
                    bail!("no broker registered with the nameserver; cannot create {topic}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // The broker registers the new topic with the nameserver; wait for the route.
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(route) = admin.topic_route(topic).await {
                let n: i32 = route.queue_datas.iter().map(|q| q.write_queue_nums).sum();
                if n > 0 {
                    if n != queues {
                        bail!("topic {topic} has {n} write queues but CHAT_QUEUES={queues}; refusing to start (it would reorder conversations)");
                    }
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("topic {topic} has no route after {wait:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Direct reads of a topic (no consumer group state is committed).
#[derive(Clone)]
pub struct TopicReader {
    admin: Admin,
    topic: String,
    group: String,
}

/// One page of a pull.
#[derive(Debug, Default)]
pub struct Page {
    /// Messages found (already filtered by tag).
    pub messages: Vec<MessageExt>,
    /// Offset to pull next.
    pub next: i64,
    /// The queue's max offset when pulled.
    pub max: i64,
}

impl TopicReader {
    /// A reader of `topic`, identifying itself as `group` in pulls.
    pub fn new(admin: Admin, topic: &str, group: &str) -> Self {
        TopicReader { admin, topic: topic.into(), group: group.into() }
    }

    /// The admin client.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Every queue of the topic, sorted by id.
    pub async fn queues(&self) -> anyhow::Result<Vec<(MessageQueue, String)>> {
        let route = self.admin.topic_route(&self.topic).await?;
        let mut out = Vec::new();
        for qd in &route.queue_datas {
            let Some(addr) = route
                .broker_datas
                .iter()
                .find(|b| b.broker_name == qd.broker_name)
                .and_then(|b| b.master_addr())
            else {
                continue;
            };
            for q in 0..qd.read_queue_nums {
                out.push((MessageQueue::new(&self.topic, &qd.broker_name, q), addr.to_string()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Master address of `mq`'s broker.
    pub async fn addr_of(&self, mq: &MessageQueue) -> anyhow::Result<String> {
        self.queues()
            .await?
            .into_iter()
            .find(|(q, _)| q == mq)
            .map(|(_, a)| a)
            .with_context(|| format!("no route to {mq}"))
    }

    /// Messages with `key` stored in `[begin_ms, end_ms]` (at most `max`).
    pub async fn query_key(
        &self,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
    ) -> anyhow::Result<Vec<MessageExt>> {
        Ok(self
            .admin
            .query_msg_by_key(&self.topic, key, max, begin_ms, end_ms)
            .await?
            .into_iter()
            .map(|q| q.message)
            .collect())
    }

    /// Max offset of `mq`.
    pub async fn max_offset(&self, mq: &MessageQueue, addr: &str) -> anyhow::Result<i64> {
        Ok(self.admin.api().max_offset(addr, mq).await?)
    }

    /// Min offset of `mq`.
    pub async fn min_offset(&self, mq: &MessageQueue, addr: &str) -> anyhow::Result<i64> {
        Ok(self.admin.api().min_offset(addr, mq).await?)
    }

    /// First offset stored at or after `ts`.
    pub async fn search_offset(
        &self,
        mq: &MessageQueue,
        addr: &str,
        ts: i64,
    ) -> anyhow::Result<i64> {
        Ok(self.admin.api().search_offset(addr, mq, ts).await?)
    }

    /// Pull up to `max` messages matching tag expression `expr` from `offset` (no long polling).
    pub async fn pull(
        &self,
        mq: &MessageQueue,
        addr: &str,
        expr: &str,
        offset: i64,
        max: i32,
    ) -> anyhow::Result<Page> {
        let r = self.admin.pull_without_commit(addr, mq, expr, &self.group, offset, max).await?;
        let messages = match r.status {
            PullStatus::Found(m) => m,
            _ => Vec::new(),
        };
        // OFFSET_MOVED answers with the queue bounds: clamp into them instead of looping.
        let next = if r.next_begin_offset < offset && messages.is_empty() {
            offset.max(r.min_offset)
        } else {
            r.next_begin_offset
        };
        Ok(Page { messages, next, max: r.max_offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_selector_matches_by_queue_id_not_position() {
        let mut qs: Vec<MessageQueue> =
            (0..8).map(|q| MessageQueue::new("chat_inbox", "b", q)).collect();
        let want = shard("d_alice_bob", 8) as i32;
        assert_eq!(ShardSelector.select(&qs, "d_alice_bob").queue_id, want);
        qs.reverse();
        assert_eq!(
            ShardSelector.select(&qs, "d_alice_bob").queue_id,
            want,
            "route order does not matter"
        );
    }
}
