//! Rebalance (Java `RebalanceImpl`): decide which queues this member owns, start pulling the new
//! ones from their committed offset, and hand back the ones now owned by someone else after
//! committing their offsets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mq_common::protocol::body::{system_topics, LockBatchRequestBody, MessageQueue};

use super::allocate::allocate_averagely;
use super::process_queue::ProcessQueue;
use super::push::PushInner;
use super::ConsumeFromWhere;
use crate::error::{ClientError, Result};
use crate::route::subscribe_queues;

impl PushInner {
    /// The queues this member should own now. Topics whose route or member list cannot be read
    /// keep their current assignment (a transient failure must not drop queues).
    async fn wanted_queues(&self) -> BTreeSet<MessageQueue> {
        let topics: Vec<String> = self.subs.read().keys().cloned().collect();
        let mut wanted = BTreeSet::new();
        for topic in topics {
            let keep_current = |wanted: &mut BTreeSet<MessageQueue>| {
                wanted.extend(
                    self.pqs.iter().filter(|e| e.key().topic == topic).map(|e| e.key().clone()),
                );
            };
            let route = match self.inst.route(&topic).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    // Unknown topic (or the broker is briefly gone from the nameserver): keep
                    // what we have, as Java does when the route is missing.
                    keep_current(&mut wanted);
                    continue;
                }
                Err(e) => {
                    tracing::debug!(%topic, error = %e, "rebalance: no route");
                    keep_current(&mut wanted);
                    continue;
                }
            };
            let all: Vec<MessageQueue> = subscribe_queues(&topic, &route).into_iter().collect();
            if !self.is_clustering() {
                wanted.extend(all);
                continue;
            }
            // Any broker of the topic knows the group's members (consumers heartbeat to
            // slaves too); try them in turn, the master of each group else a slave (Java's
            // `selectBrokerAddr`), so one broker being down does not freeze the assignment.
            let mut addrs: Vec<String> = route
                .broker_datas
                .iter()
                .filter_map(|b| {
                    b.master_addr().or(b.broker_addrs.values().next().map(String::as_str))
                })
                .map(str::to_string)
                .collect();
            if !addrs.is_empty() {
                let start = rand::random::<u32>() as usize % addrs.len();
                addrs.rotate_left(start);
            }
            let mut ids_result = Err(ClientError::NoRoute(topic.clone()));
            for addr in &addrs {
                ids_result = self.inst.api.consumer_ids(addr, &self.cfg.group).await;
                if ids_result.is_ok() {
                    break;
                }
            }
            match ids_result {
                Ok(mut ids) => {
                    ids.sort();
                    ids.dedup();
                    if !ids.contains(&self.inst.client_id) {
                        // Not registered yet (heartbeat in flight): register and keep what we have.
                        self.inst.heartbeat_all().await;
                        keep_current(&mut wanted);
                        continue;
                    }
                    wanted.extend(allocate_averagely(&all, &ids, &self.inst.client_id));
                }
                Err(e) => {
                    tracing::debug!(%topic, error = %e, "rebalance: cannot list group members");
                    keep_current(&mut wanted);
                }
            }
        }
        wanted
    }

    /// One rebalance round.
    pub async fn rebalance(self: &Arc<Self>) {
        if self.stop.is_cancelled() {
            return;
        }
        let wanted = self.wanted_queues().await;
        // Release queues no longer ours: stop pulling, commit, forget.
        let removed: Vec<MessageQueue> =
            self.pqs.iter().map(|e| e.key().clone()).filter(|mq| !wanted.contains(mq)).collect();
        for mq in &removed {
            if let Some((_, pq)) = self.pqs.remove(mq) {
                pq.set_dropped();
                let me = self.clone();
                let mq2 = mq.clone();
                tokio::spawn(async move {
                    let mq = mq2;
                    // Orderly: wait for the message being consumed before giving the lock away.
                    let _g = if me.cfg.orderly {
                        tokio::time::timeout(me.cfg.shutdown_timeout, pq.consume_lock.lock())
                            .await
                            .ok()
                    } else {
                        None
                    };
                    me.offsets.persist(Some(std::slice::from_ref(&mq))).await;
                    me.offsets.remove(&mq);
                    if me.needs_lock() {
                        me.unlock(std::slice::from_ref(&mq)).await;
                    }
                });
                tracing::info!(queue = %mq, group = %self.cfg.group, "queue released");
            }
        }
        // Take new queues.
        let added: Vec<MessageQueue> =
            wanted.into_iter().filter(|mq| !self.pqs.contains_key(mq)).collect();
        if added.is_empty() {
            return;
        }
        let locked = if self.needs_lock() {
            self.lock(&added).await
        } else {
            added.iter().cloned().collect()
        };
        for mq in added {
            if !locked.contains(&mq) {
                tracing::debug!(queue = %mq, "queue locked by another member, retry next rebalance");
                continue;
            }
            let start = match self.compute_start_offset(&mq).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::debug!(queue = %mq, error = %e, "cannot compute start offset");
                    continue;
                }
            };
            let pq = Arc::new(ProcessQueue::new(start));
            if self.needs_lock() {
                pq.set_locked(true);
            }
            self.offsets.update(&mq, start, false);
            self.pqs.insert(mq.clone(), pq.clone());
            tracing::info!(queue = %mq, offset = start, group = %self.cfg.group, "queue assigned");
            self.spawn_pull_loop(mq, pq);
        }
    }

    /// Where to start a newly assigned queue: the committed offset, else per consume-from-where.
    pub async fn compute_start_offset(&self, mq: &MessageQueue) -> Result<i64> {
        if let Some(o) = self.offsets.read_store(mq).await? {
            return Ok(o);
        }
        let is_retry = mq.topic.starts_with(system_topics::RETRY_PREFIX);
        let addr = self
            .inst
            .master_addr(&mq.broker_name, &mq.topic)
            .await
            .ok_or_else(|| ClientError::BrokerNotFound(mq.broker_name.clone()))?;
        match self.cfg.consume_from {
            ConsumeFromWhere::First => Ok(0),
            ConsumeFromWhere::Last if is_retry => Ok(0),
            ConsumeFromWhere::Last => self.inst.api.max_offset(&addr, mq).await,
            ConsumeFromWhere::Timestamp(_) if is_retry => self.inst.api.max_offset(&addr, mq).await,
            ConsumeFromWhere::Timestamp(ts) => self.inst.api.search_offset(&addr, mq, ts).await,
        }
    }

    fn by_broker(mqs: &[MessageQueue]) -> BTreeMap<String, BTreeSet<MessageQueue>> {
        let mut m: BTreeMap<String, BTreeSet<MessageQueue>> = BTreeMap::new();
        for mq in mqs {
            m.entry(mq.broker_name.clone()).or_default().insert(mq.clone());
        }
        m
    }

    /// LOCK_BATCH_MQ for `mqs`; returns those we now hold.
    pub async fn lock(&self, mqs: &[MessageQueue]) -> BTreeSet<MessageQueue> {
        let mut ok = BTreeSet::new();
        for (broker, set) in Self::by_broker(mqs) {
            let Some(addr) = self.inst.routes.master_addr(&broker) else { continue };
            let body = LockBatchRequestBody {
                consumer_group: self.cfg.group.clone(),
                client_id: self.inst.client_id.clone(),
                only_this_broker: true,
                mq_set: set,
            };
            match self.inst.api.lock_batch(&addr, &body).await {
                Ok(s) => ok.extend(s),
                Err(e) => tracing::debug!(%broker, error = %e, "lock failed"),
            }
        }
        ok
    }

    /// Refresh the locks of every assigned queue.
    pub async fn lock_all(&self) {
        let mqs: Vec<MessageQueue> = self.pqs.iter().map(|e| e.key().clone()).collect();
        let ok = self.lock(&mqs).await;
        for mq in mqs {
            if let Some(pq) = self.pqs.get(&mq) {
                pq.set_locked(ok.contains(&mq));
            }
        }
    }

    /// UNLOCK_BATCH_MQ for `mqs`.
    pub async fn unlock(&self, mqs: &[MessageQueue]) {
        for (broker, set) in Self::by_broker(mqs) {
            let Some(addr) = self.inst.routes.master_addr(&broker) else { continue };
            let body = LockBatchRequestBody {
                consumer_group: self.cfg.group.clone(),
                client_id: self.inst.client_id.clone(),
                only_this_broker: true,
                mq_set: set,
            };
            if let Err(e) = self.inst.api.unlock_batch(&addr, &body).await {
                tracing::debug!(%broker, error = %e, "unlock failed");
            }
        }
    }
}
