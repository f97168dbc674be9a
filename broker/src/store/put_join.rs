//! Puts from concurrent tasks joined into put groups (group commit).
//!
//! The remoting port groups the sends that one read of a connection decoded (`put_group.rs`).
//! The gRPC port cannot: HTTP/2 hands every request (stream) to a task of its own, so 256
//! sends in flight arrive as 256 tasks that each would take the put lock and write the commit
//! log alone. Here each task queues its set; the first one to find no leader leads: it yields
//! once (the other tasks that are ready — the rest of the streams the connection read in the
//! same pass — queue theirs meanwhile), then takes the whole queue and stores it with one
//! [`MessageStore::put_group`] (one lock hold, one `pwrite`), again until the queue is empty.
//! Followers wait for their answer on a channel.
//!
//! A leader stores at most [`ROUNDS`] batches: under steady load from other workers the queue
//! refills while it writes, and its own answer (sent in the first batch) reaches its client
//! only once its task moves on. If puts are still queued then, a fresh task takes over the lead
//! (without a runtime — tests driving futures by hand — the leader keeps going itself). A
//! leader dropped while it leads (its request was cancelled during the yield) must not strand
//! the followers either: [`Lead`]'s drop is what stores the queue.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::put_group::PutSet;
use super::store::MessageStore;
use super::types::{Put, PutMessageResult, PutMessageStatus};

type Waiting = (PutSet, oneshot::Sender<Put>);

/// Batches one leader stores before handing the lead to a fresh task.
const ROUNDS: usize = 4;

/// The puts waiting for a leader, and whether one leads.
#[derive(Default)]
pub(super) struct PutJoin {
    state: Mutex<JoinState>,
}

#[derive(Default)]
struct JoinState {
    queue: Vec<Waiting>,
    leading: bool,
}

impl PutJoin {
    /// Store `set` with the puts queued meanwhile: see [`MessageStore::put_joined`].
    pub(super) async fn put(&self, store: &Arc<MessageStore>, set: PutSet) -> Put {
        let (rx, lead) = self.enqueue(store, set);
        if let Some(lead) = lead {
            // Let the other ready tasks queue their puts before this one takes the queue.
            tokio::task::yield_now().await;
            drop(lead); // stores the queue
        }
        rx.await.unwrap_or_else(|_| {
            // Only if put_group panicked under the leader.
            Put::failed(PutMessageResult::failed(
                PutMessageStatus::UnknownError,
                "the put group storing this message failed",
            ))
        })
    }

    /// Queue `set`; returns the answer's receiver and, if this caller must lead, its
    /// [`Lead`].
    fn enqueue<'a>(
        &'a self,
        store: &'a Arc<MessageStore>,
        set: PutSet,
    ) -> (oneshot::Receiver<Put>, Option<Lead<'a>>) {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut s = self.state.lock();
            s.queue.push((set, tx));
            !std::mem::replace(&mut s.leading, true)
        };
        // Lazily: a Lead made and dropped here would store the queue as a second leader.
        (rx, lead.then(|| Lead { join: self, store }))
    }
}

/// Leadership of a [`PutJoin`]: only [`PutJoin::enqueue`] (and a lead's handover) makes one.
/// Dropping it stores the queue, batch after batch, until it is empty (then no one leads) or
/// [`ROUNDS`] batches were stored (then a fresh task leads) — on the normal path and when the
/// leading task is cancelled alike, so no follower waits forever.
struct Lead<'a> {
    join: &'a PutJoin,
    store: &'a Arc<MessageStore>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let handover = tokio::runtime::Handle::try_current().ok();
        for round in 0.. {
            let batch = {
                let mut s = self.join.state.lock();
                if s.queue.is_empty() {
                    s.leading = false;
                    return;
                }
                match &handover {
                    Some(rt) if round >= ROUNDS => {
                        drop(s);
                        // Still leading: the new task leads in this one's place.
                        let store = self.store.clone();
                        rt.spawn(async move { drop(Lead { join: &store.join, store: &store }) });
                        return;
                    }
                    _ => std::mem::take(&mut s.queue),
                }
            };
            let store = &**self.store;
            let (sets, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let Ok(puts) = catch_unwind(AssertUnwindSafe(|| store.put_group(sets))) else {
                // The followers see their answers dropped (a failed put); later puts must not
                // queue behind a lead that is gone.
                tracing::error!("a joined put group panicked; its puts are answered as failed");
                self.join.state.lock().leading = false;
                return;
            };
            debug_assert_eq!(puts.len(), answers.len());
            for (put, tx) in puts.into_iter().zip(answers) {
                // A follower that went away drops its answer; the record is stored either
                // way and its ticket needs no waiter.
                let _ = tx.send(put);
            }
        }
    }
}
