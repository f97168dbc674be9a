//! Puts from concurrent tasks joined into put groups (group commit).
//!
//! The remoting port groups the sends that one read of a connection decoded (`put_group.rs`).
//! The gRPC port cannot: HTTP/2 hands every request (stream) to a task of its own, so 256
//! sends in flight arrive as 256 tasks that each would take the put lock and write the commit
//! log alone. Here each task queues its set; the first one to find no leader leads: it yields
//! once (the other tasks that are ready — the rest of the streams the connection read in the
//! same pass — queue theirs meanwhile), then takes the whole queue and has it stored with one
//! [`MessageStore::put_group`] (one lock hold, one `pwrite`). Followers wait for their answer
//! on a channel.
//!
//! The group is written by the store's join writer thread, not by the leader's thread: a gRPC
//! connection lives on one worker thread (`grpc::workers`), and under load that thread is what
//! caps the connection's rate, so the commit-log write (≈ 15 % of a gRPC send's broker CPU)
//! runs beside it. The leader takes the queue, hands it to the writer and gives up the lead in
//! one step (under the queue's lock, so groups reach the writer in the order they were taken
//! and are stored in that order); the next put leads the next group while the writer still
//! writes this one. The leader then waits for its group's results and answers the followers on
//! its own thread: one hand-over per group each way, no wake-up across threads per follower.
//!
//! A leader dropped before it handed its group over (its request was cancelled during the
//! yield) must not strand the followers: [`Lead`]'s drop hands the lead to a fresh task (or,
//! without a runtime — tests driving futures by hand — stores the queue itself). A group
//! already with the writer when its leader goes away is answered by the writer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, OnceLock};

use futures::future::OptionFuture;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::put_group::PutSet;
use super::store::MessageStore;
use super::types::{Put, PutMessageResult, PutMessageStatus};

type Waiting = (PutSet, oneshot::Sender<Put>);
/// A group's results, each with the channel of the put that waits for it.
type Answered = Vec<(Put, oneshot::Sender<Put>)>;

/// A group for the writer thread, and where its results go back.
struct Job {
    store: Arc<MessageStore>,
    batch: Vec<Waiting>,
    done: oneshot::Sender<Answered>,
}

/// The puts waiting for a leader, whether one leads, and the writer thread.
#[derive(Default)]
pub(super) struct PutJoin {
    state: Mutex<JoinState>,
    /// Started by the first joined put; ends when the store (and this) is dropped.
    writer: OnceLock<Option<mpsc::Sender<Job>>>,
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
            lead.run().await;
        }
        rx.await.unwrap_or_else(|_| {
            // Only if put_group panicked.
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
        (rx, lead.then(|| Lead { join: self, store, done: false }))
    }

    /// The queue to store next, or `None` (and no one leads any more) when it is empty.
    fn take_batch(&self) -> Option<Vec<Waiting>> {
        let mut s = self.state.lock();
        if s.queue.is_empty() {
            s.leading = false;
            return None;
        }
        Some(std::mem::take(&mut s.queue))
    }

    /// Take the queue, send it to `writer` as one group and give up the lead, in one step;
    /// the receiver of the group's results, or `None` if the queue was empty.
    fn hand_over(
        &self,
        store: &Arc<MessageStore>,
        writer: &mpsc::Sender<Job>,
    ) -> Option<oneshot::Receiver<Answered>> {
        let mut s = self.state.lock();
        s.leading = false;
        if s.queue.is_empty() {
            return None;
        }
        let (done, results) = oneshot::channel();
        let job = Job { store: store.clone(), batch: std::mem::take(&mut s.queue), done };
        // A send fails only if the writer is gone: the job's drop fails its puts.
        let _ = writer.send(job);
        Some(results)
    }

    /// The writer thread's inbox (`None` if the thread could not be started: leaders then
    /// store on their own thread).
    fn writer(&self) -> Option<&mpsc::Sender<Job>> {
        let w = self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            let started = std::thread::Builder::new()
                .name("store-join".into())
                .spawn(move || rx.into_iter().for_each(write_job));
            match started {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::warn!(error = %e, "no join writer thread; leaders store the groups");
                    None
                }
            }
        });
        w.as_ref()
    }
}

/// Store a job's group (on the writer thread) and give the results back to its leader — or,
/// if the leader is gone, answer the followers from here.
fn write_job(job: Job) {
    let Job { store, batch, done } = job;
    // A panicked group: the followers see their answers dropped, the leader its reply.
    let Some(pairs) = store_batch(&store, batch) else { return };
    if let Err(pairs) = done.send(pairs) {
        answer(pairs);
    }
}

/// Store one group with one [`MessageStore::put_group`]; its results paired with their
/// waiters, or `None` if `put_group` panicked (the waiters' channels are dropped with the
/// group then: failed puts).
fn store_batch(store: &MessageStore, batch: Vec<Waiting>) -> Option<Answered> {
    let (sets, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let Ok(puts) = catch_unwind(AssertUnwindSafe(|| store.put_group(sets))) else {
        tracing::error!("a joined put group panicked; its puts are answered as failed");
        return None;
    };
    debug_assert_eq!(puts.len(), answers.len());
    Some(puts.into_iter().zip(answers).collect())
}

/// Send each put's result to its waiter. A follower that went away drops its answer; the
/// record is stored either way and its ticket needs no waiter.
fn answer(pairs: Answered) {
    for (put, tx) in pairs {
        let _ = tx.send(put);
    }
}

/// Leadership of a [`PutJoin`]: only [`PutJoin::enqueue`] (and a lead's handover) makes one.
/// [`Lead::run`] hands the queue to the writer as one group and answers it. Dropped before it
/// handed the queue over (its task was cancelled), it hands the lead on, so no follower waits
/// forever.
struct Lead<'a> {
    join: &'a PutJoin,
    store: &'a Arc<MessageStore>,
    /// The queue was handed over (or stored): no one needs this lead any more.
    done: bool,
}

impl Lead<'_> {
    async fn run(mut self) {
        let Some(writer) = self.join.writer() else {
            self.store_here();
            return;
        };
        let results = self.join.hand_over(self.store, writer);
        self.done = true;
        // Err: the group failed (put_group panicked); its followers see their answers dropped.
        if let Some(Ok(pairs)) = OptionFuture::from(results).await {
            answer(pairs);
        }
    }

    /// Store the queue on this thread until it is empty (then no one leads).
    fn store_here(&mut self) {
        self.done = true;
        while let Some(batch) = self.join.take_batch() {
            let Some(pairs) = store_batch(self.store, batch) else {
                // Later puts must not queue behind a lead that is gone.
                self.join.state.lock().leading = false;
                return;
            };
            answer(pairs);
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            // Still leading: a new task leads in this one's place.
            let store = self.store.clone();
            rt.spawn(
                async move { Lead { join: &store.join, store: &store, done: false }.run().await },
            );
            return;
        }
        // No runtime to hand over to: store the queue here.
        self.store_here();
    }
}
