//! [`TimerService`]: the timer engine's two threads and its entry point for put paths.
//!
//! * **enqueue** (`timer-enqueue`): reads `rmq_sys_wheel_timer` queue 0 from the enqueue offset
//!   (woken by the store's arrival listener through [`TimerService::notify_arrival`]), appends
//!   one timer-log entry per record and links it into its slot; every `timerFlushIntervalMs`
//!   it fsyncs the log, writes the checkpoint and deletes delivered log files.
//! * **dequeue** (`timer-dequeue`): when a slot's time comes, walks its list out of the log and
//!   delivers each timer at its millisecond: reads the timer record, appends the copy to the
//!   real topic ([`super::deliver`]), and moves on.
//!
//! Both talk to the store only through its public API: `get_message` on the timer topic,
//! `look_message_by_offset`, `put_message`, offsets and the commit-log reader for recovery.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mq_common::message::property::{REAL_TOPIC, TIMER_OUT_MS};
use mq_common::message::{MessageExtBrokerInner, RecordView};
use mq_common::metrics::histogram::DELAY_SET_LATENCY_SECS;
use mq_common::metrics::Histogram;
use mq_common::protocol::body::system_topics::WHEEL_TIMER_TOPIC;
use mq_common::protocol::now_millis;
use parking_lot::{Condvar, Mutex, RwLock};

use super::checkpoint::{self, TimerCheckpoint};
use super::config::TimerConfig;
use super::deliver::{delivered_copy, CopyOf};
use super::intercept::{intercept, requested_deliver_ms, Intercepted, TimerReject};
use super::log::{Entry, TimerLog, NO_PREV};
use super::recover::recover;
use super::wheel::{Due, Placement, SlotHead, Wheel};
use crate::store::{GetMessageStatus, MessageStore, PutMessageStatus};

/// Timer records read from the queue per round.
const ENQUEUE_BATCH: usize = 256;
/// Timers delivered per round before the wheel is looked at again.
const DELIVER_BATCH: usize = 256;
/// Longest sleep of either thread (a safety net; both are woken when there is work).
const MAX_IDLE: Duration = Duration::from_millis(100);
/// Pause after a failed delivery or log write (disk full, store refusing writes).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Counters and gauges (GET_BROKER_RUNTIME_INFO, tests, benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Timers waiting in the wheel.
    pub pending: u64,
    /// Timer records not yet taken into the wheel.
    pub enqueue_behind: i64,
    /// How far the wheel's cursor is behind the clock, ms.
    pub read_behind_ms: i64,
    /// Entries appended to the timer log since start.
    pub enqueued: u64,
    /// Copies appended since start.
    pub delivered: u64,
    /// Timers skipped because recovery found their copy (delivered before a crash).
    pub skipped_delivered: u64,
    /// Timers that could not be delivered (record gone or unusable; logged as errors).
    pub lost: u64,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    skipped_delivered: AtomicU64,
    lost: AtomicU64,
}

/// A wake-up flag for the enqueue thread.
#[derive(Default)]
struct Signal {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    fn notify(&self) {
        *self.set.lock() = true;
        self.cv.notify_one();
    }

    fn wait(&self, max: Duration) {
        let mut s = self.set.lock();
        if !*s {
            self.cv.wait_for(&mut s, max);
        }
        *s = false;
    }
}

struct State {
    wheel: Wheel,
    /// Next offset of the timer topic to take.
    enqueue_offset: i64,
}

struct Engine {
    cfg: TimerConfig,
    store: Arc<MessageStore>,
    log: TimerLog,
    checkpoint_path: PathBuf,
    /// Last checkpoint written (the enqueue thread and shutdown write it).
    written: Mutex<TimerCheckpoint>,
    state: Mutex<State>,
    /// Wakes the dequeue thread (used with `state`).
    dequeue_cv: Condvar,
    arrivals: Signal,
    /// Copies recovery found, taken by the dequeue thread when it starts.
    recovered_copies: Mutex<Option<(HashMap<i64, CopyOf>, i64)>>,
    shutdown: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    counters: Counters,
}

/// The timer (see the module docs of [`crate::timer`]). Disabled (`timerWheelEnable=false`)
/// or on a slave it runs no threads and only answers [`TimerService::intercept`].
///
/// The engine is swappable: classic mode opens it at boot ([`TimerService::open`]); in
/// controller mode the role changes at run time, so a promotion rebuilds and starts it
/// ([`TimerService::promote`]) and a demotion stops it ([`TimerService::shutdown`]), while
/// the service itself (intercept, stats) stays in place for every put path.
pub struct TimerService {
    cfg: TimerConfig,
    /// The running engine, if any. Read on every arrival in the timer topic (a read lock);
    /// written only when it starts or stops.
    engine: RwLock<Option<Arc<Engine>>>,
    /// Held while the engine's files are opened, rebuilt or closed, so a demotion waits for
    /// a rebuild in flight and two engines never share the timer log.
    lifecycle: Mutex<()>,
    /// Bumped by every stop: a rebuild that started before the stop does not install.
    term: AtomicU64,
    /// A rebuild is running (controller mode; the replicas manager asks every round).
    rebuilding: AtomicBool,
    /// (when, enqueued, delivered, enqueue TPS, dequeue TPS) at the last rate sample.
    rates: Mutex<(Instant, u64, u64, f64, f64)>,
    /// How far ahead scheduled messages ask to be delivered, s
    /// (`rocketmq_delay_message_latency`).
    set_latency: Histogram,
}

impl TimerService {
    /// Recover the timer state under the store's root (see [`super::recover`]). With `run`
    /// false (slave, controller mode, or the timer disabled) nothing is read and no thread
    /// will start until [`TimerService::promote`].
    pub fn open(cfg: &TimerConfig, store: &Arc<MessageStore>, run: bool) -> io::Result<Self> {
        let engine =
            if run && cfg.enable { Some(Arc::new(Engine::open(cfg, store)?)) } else { None };
        Ok(TimerService {
            cfg: cfg.clone(),
            engine: RwLock::new(engine),
            lifecycle: Mutex::new(()),
            term: AtomicU64::new(0),
            rebuilding: AtomicBool::new(false),
            rates: Mutex::new((Instant::now(), 0, 0, 0.0, 0.0)),
            set_latency: Histogram::new(&DELAY_SET_LATENCY_SECS),
        })
    }

    /// Start the enqueue and dequeue threads of the engine opened at boot.
    pub fn start(&self) -> io::Result<()> {
        match self.engine() {
            Some(e) => e.start_threads(),
            None => Ok(()),
        }
    }

    fn engine(&self) -> Option<Arc<Engine>> {
        self.engine.read().clone()
    }

    /// Whether the engine runs (a master in classic mode, the current master in controller
    /// mode).
    pub fn running(&self) -> bool {
        self.engine.read().is_some()
    }

    /// The stop count, to pass to [`TimerService::promote`]: a stop after this call makes
    /// that promotion a no-op.
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Acquire)
    }

    /// Whether a promotion is wanted: enabled, not running, no rebuild in flight. Claims the
    /// rebuild when it returns true (the caller must then call [`TimerService::promote`]).
    pub fn claim_promotion(&self) -> bool {
        self.cfg.enable
            && !self.running()
            && self
                .rebuilding
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Controller mode, this broker became master (its store is writable): rebuild the timer
    /// state from the commit log and start the threads. Blocking (it reads the retained
    /// commit log): run it off the async runtime. The local timer log and checkpoint are
    /// discarded first: they describe this broker's own last term as master (if any), which
    /// the log may since have been cut below, and another master may have delivered timers
    /// since; the replicated commit log holds every timer record and every delivered copy,
    /// so a fresh recovery from it delivers each pending timer exactly once
    /// (`docs/controller.md`, "Timer messages"). Nothing happens if `term` is stale (a stop
    /// came in between) or the engine already runs.
    pub fn promote(&self, store: &Arc<MessageStore>, term: u64) -> io::Result<()> {
        let _files = self.lifecycle.lock();
        let r = (|| {
            if !self.cfg.enable || self.term() != term || self.running() {
                return Ok(());
            }
            let root = store.root_dir();
            match std::fs::remove_dir_all(root.join("timerlog")) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let ck = checkpoint::path(root);
            for p in [ck.clone(), crate::json_file::with_suffix(&ck, ".bak")] {
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            let e = Arc::new(Engine::open(&self.cfg, store)?);
            let mut slot = self.engine.write();
            if self.term() != term {
                return Ok(()); // stopped while rebuilding: the engine is dropped unstarted
            }
            e.start_threads()?;
            *slot = Some(e);
            tracing::info!("timer engine running (this broker is the master)");
            Ok(())
        })();
        self.rebuilding.store(false, Ordering::Release);
        r
    }

    /// The timer's configuration.
    pub fn config(&self) -> &TimerConfig {
        &self.cfg
    }

    /// Apply the timer properties of a message about to be stored, on any put path: a future
    /// delivery time moves it into `rmq_sys_wheel_timer`; a refusal carries Java's code and
    /// remark. This is also the gRPC endpoint's entry for `delivery_timestamp` (set
    /// `TIMER_DELIVER_MS`, then call this).
    pub fn intercept(&self, msg: &mut MessageExtBrokerInner) -> Result<Intercepted, TimerReject> {
        let now = now_millis();
        let r = intercept(&self.cfg, now, msg, |t| self.population(t));
        if let Ok(Intercepted::Scheduled { deliver_ms }) = r {
            self.set_latency.observe(((deliver_ms - now).max(0) / 1000) as u64);
        }
        r
    }

    /// How far ahead scheduled messages asked to be delivered (seconds), since start.
    pub fn set_latency(&self) -> &Histogram {
        &self.set_latency
    }

    fn population(&self, deliver_ms: i64) -> i64 {
        self.engine.read().as_ref().map_or(0, |e| {
            let st = e.state.lock();
            st.wheel.population(st.wheel.slot_of(deliver_ms))
        })
    }

    /// A record reached `rmq_sys_wheel_timer` (the store's arrival listener calls this).
    pub fn notify_arrival(&self) {
        if let Some(e) = &*self.engine.read() {
            e.arrivals.notify();
        }
    }

    /// Counters and gauges.
    pub fn stats(&self) -> TimerStats {
        let Some(e) = self.engine() else { return TimerStats::default() };
        let (pending, cursor, offset) = {
            let st = e.state.lock();
            (st.wheel.pending(), st.wheel.cursor(), st.enqueue_offset)
        };
        TimerStats {
            pending,
            enqueue_behind: (e.store.get_max_offset_in_queue(WHEEL_TIMER_TOPIC, 0) - offset).max(0),
            read_behind_ms: (now_millis() - cursor).max(0),
            enqueued: e.counters.enqueued.load(Ordering::Relaxed),
            delivered: e.counters.delivered.load(Ordering::Relaxed),
            skipped_delivered: e.counters.skipped_delivered.load(Ordering::Relaxed),
            lost: e.counters.lost.load(Ordering::Relaxed),
        }
    }

    /// Java's GET_BROKER_RUNTIME_INFO timer keys (`mqadmin clusterList -m` shows them):
    /// `timerReadBehind` (s), `timerOffsetBehind` (records), `timerCongestNum` (timers
    /// waiting), and the enqueue/dequeue rates since the previous call.
    pub fn runtime_entries(&self) -> Vec<(&'static str, String)> {
        let s = self.stats();
        let (enq_tps, deq_tps) = {
            let mut last = self.rates.lock();
            let dt = last.0.elapsed().as_secs_f64();
            if dt >= 1.0 {
                last.3 = (s.enqueued - last.1) as f64 / dt;
                last.4 = (s.delivered - last.2) as f64 / dt;
                *last = (Instant::now(), s.enqueued, s.delivered, last.3, last.4);
            }
            (last.3, last.4)
        };
        vec![
            ("timerReadBehind", (s.read_behind_ms / 1000).to_string()),
            ("timerOffsetBehind", s.enqueue_behind.to_string()),
            ("timerCongestNum", s.pending.to_string()),
            ("timerEnqueueTps", format!("{enq_tps:.1}")),
            ("timerDequeueTps", format!("{deq_tps:.1}")),
        ]
    }

    /// Stop whatever runs: both threads, then a final checkpoint, and drop the engine. Called
    /// at shutdown (before the store shuts down) and, in controller mode, on demotion to
    /// replica (before the HA client may truncate the store). Blocking; waits for a rebuild
    /// in flight, which then does not start.
    pub fn shutdown(&self) {
        self.term.fetch_add(1, Ordering::AcqRel);
        let _files = self.lifecycle.lock();
        let Some(e) = self.engine.write().take() else { return };
        e.stop_threads();
        // Flush the commit log now so the checkpoint can cover every copy delivered (the
        // next start then has nothing to re-check).
        if let Err(err) = e.store.checkpoint_now() {
            tracing::warn!(error = %err, "flushing the store before the timer checkpoint failed");
        }
        if let Err(err) = e.checkpoint() {
            tracing::error!(error = %err, "writing the timer checkpoint at shutdown failed");
        }
    }

    /// Stop both threads without a final checkpoint, as a crash would (tests).
    #[doc(hidden)]
    pub fn halt(&self) {
        if let Some(e) = self.engine() {
            e.stop_threads();
        }
    }
}

impl Drop for TimerService {
    fn drop(&mut self) {
        if let Some(e) = self.engine.get_mut() {
            e.stop_threads();
        }
    }
}

/// What became of one due timer.
enum Outcome {
    Delivered,
    AlreadyDelivered,
    Lost,
    Retry,
}

impl Engine {
    /// Recover the state under the store's root.
    fn open(cfg: &TimerConfig, store: &Arc<MessageStore>) -> io::Result<Engine> {
        let root = store.root_dir().to_path_buf();
        let log = TimerLog::open(&root.join("timerlog"), cfg.log_file_size.get() as u64)?;
        let checkpoint_path = checkpoint::path(&root);
        let r = recover(cfg.precision_ms(), store, &log, TimerCheckpoint::load(&checkpoint_path))?;
        let mark = r.checkpoint.delivered_phy;
        let engine = Engine {
            cfg: cfg.clone(),
            store: store.clone(),
            log,
            checkpoint_path,
            written: Mutex::new(r.checkpoint),
            state: Mutex::new(State { wheel: r.wheel, enqueue_offset: r.enqueue_offset }),
            dequeue_cv: Condvar::new(),
            arrivals: Signal::default(),
            recovered_copies: Mutex::new(Some((r.copies, mark))),
            shutdown: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            counters: Counters::default(),
        };
        // Record the cuts recovery made before anything new is appended.
        engine.checkpoint()?;
        Ok(engine)
    }

    /// Start the enqueue and dequeue threads (once).
    fn start_threads(self: &Arc<Self>) -> io::Result<()> {
        let mut threads = self.threads.lock();
        if !threads.is_empty() {
            return Ok(());
        }
        let e1 = self.clone();
        threads.push(
            std::thread::Builder::new()
                .name("timer-enqueue".into())
                .spawn(move || e1.enqueue_loop())?,
        );
        let e2 = self.clone();
        threads.push(
            std::thread::Builder::new()
                .name("timer-dequeue".into())
                .spawn(move || e2.dequeue_loop())?,
        );
        Ok(())
    }

    fn stop_threads(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.arrivals.notify();
        {
            let _st = self.state.lock();
            self.dequeue_cv.notify_all();
        }
        let threads: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    // ------------------------------------------------------------------ enqueue

    fn enqueue_loop(&self) {
        let every = Duration::from_millis(self.cfg.flush_interval_ms.get() as u64);
        let mut last_checkpoint = Instant::now();
        while !self.stopping() {
            let took = match self.enqueue_batch() {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "timer log append failed; retrying");
                    std::thread::sleep(RETRY_PAUSE);
                    0
                }
            };
            if last_checkpoint.elapsed() >= every {
                if let Err(e) = self.checkpoint() {
                    tracing::error!(error = %e, "timer checkpoint failed; retrying");
                }
                last_checkpoint = Instant::now();
            }
            if took == 0 {
                self.arrivals.wait(MAX_IDLE.min(every));
            }
        }
    }

    /// Take the next timer records into the log and the wheel; returns how many.
    fn enqueue_batch(&self) -> io::Result<usize> {
        let from = self.state.lock().enqueue_offset;
        let r =
            self.store.get_message("", WHEEL_TIMER_TOPIC, 0, from, ENQUEUE_BATCH, 16 << 20, None);
        use GetMessageStatus::*;
        match r.status {
            Found => {}
            OffsetTooSmall | OffsetOverflowBadly | NoMatchedMessage | MessageWasRemoving
            | OffsetFoundNull
                if r.next_begin_offset != from =>
            {
                tracing::warn!(from, to = r.next_begin_offset, status = ?r.status, "timer queue offset moved without records (retention or damage)");
                self.state.lock().enqueue_offset = r.next_begin_offset;
                return Ok(0);
            }
            _ => return Ok(0),
        }
        let p = self.cfg.precision_ms();
        let mut items = Vec::with_capacity(r.messages.len());
        for (rec, &qo) in r.messages.iter().zip(&r.queue_offsets) {
            match RecordView::parse(rec, false) {
                Ok(v) if v.property(REAL_TOPIC).is_some() => {
                    items.push((requested_time(&v, p), v.physical_offset, v.total_size, qo))
                }
                _ => {
                    tracing::error!(
                        queue_offset = qo,
                        "unusable record in {WHEEL_TIMER_TOPIC}; skipped"
                    );
                    self.counters.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let n = items.len();
        let mut st = self.state.lock();
        let base = self.log.end();
        let mut overlay: BTreeMap<i64, SlotHead> = BTreeMap::new();
        let mut entries = Vec::with_capacity(n);
        let mut places = Vec::with_capacity(n);
        for (t, phy, size, cq_offset) in items {
            let t = st.wheel.effective_time(t);
            let place = st.wheel.place(t, &overlay);
            let prev = match place {
                Placement::Active => NO_PREV,
                Placement::Slot { slot, prev } => {
                    let idx = (base + entries.len() as u64) as i64;
                    overlay.insert(slot, SlotHead { last: idx, count: 0 });
                    prev
                }
            };
            entries.push(Entry { deliver_ms: t, phy, size, cq_offset, prev });
            places.push(place);
        }
        // Written under the lock, so the dequeuer never follows a link to an unwritten entry.
        self.log.append(&entries)?;
        for (i, (e, place)) in entries.iter().zip(places).enumerate() {
            match place {
                Placement::Active => st.wheel.push_active(Due {
                    deliver_ms: e.deliver_ms,
                    cq_offset: e.cq_offset,
                    phy: e.phy,
                    size: e.size,
                }),
                Placement::Slot { slot, .. } => st.wheel.commit(slot, (base + i as u64) as i64),
            }
        }
        st.enqueue_offset = r.next_begin_offset;
        // Counted under the lock: `stats` reads the wheel under it too, so a scrape never sees
        // a timer waiting in the wheel that the enqueue counter does not include yet.
        self.counters.enqueued.fetch_add(n as u64, Ordering::Relaxed);
        drop(st);
        self.dequeue_cv.notify_one();
        Ok(n)
    }

    /// fsync the log, then write the checkpoint (see [`super::checkpoint`] for what it
    /// promises), then delete log files that hold only delivered entries.
    fn checkpoint(&self) -> io::Result<()> {
        let (cursor, mark, enqueue_offset, log_end) = {
            let st = self.state.lock();
            (st.wheel.cursor(), st.wheel.mark(), st.enqueue_offset, self.log.end())
        };
        self.log.sync()?;
        let flushed = self.store.runtime_info().commit_log_flushed_offset;
        let mut written = self.written.lock();
        // The read time may only advance once the copies below the mark are on disk.
        let (read_time_ms, delivered_phy) = if mark <= flushed {
            (cursor, mark)
        } else {
            (written.read_time_ms, written.delivered_phy)
        };
        let ck = TimerCheckpoint {
            enqueue_offset,
            log_end,
            read_time_ms,
            delivered_phy,
            precision_ms: self.cfg.precision_ms(),
        };
        if ck != *written {
            ck.store(&self.checkpoint_path)?;
            *written = ck;
        }
        let removed = self.log.delete_delivered(ck.read_time_ms)?;
        if removed > 0 {
            tracing::info!(files = removed, "deleted delivered timer-log files");
        }
        Ok(())
    }

    // ------------------------------------------------------------------ dequeue

    fn dequeue_loop(&self) {
        let (mut copies, recovered_mark) = self.recovered_copies.lock().take().unwrap_or_default();
        let mut st = self.state.lock();
        while !self.stopping() {
            if self.store.is_follower() {
                // A fenced master (controller mode: no controller heard within the lease, or
                // a newer epoch seen) refuses puts: hold deliveries until it is unfenced, or
                // demoted, which stops this thread.
                self.dequeue_cv.wait_for(&mut st, MAX_IDLE);
                continue;
            }
            let now = now_millis();
            // While copies found by recovery wait to be matched, the mark may not pass the
            // point recovery scanned from, or a second crash would not find them again.
            let floor = if copies.is_empty() { i64::MAX } else { recovered_mark };
            let mark = || self.store.get_max_phy_offset().min(floor);
            st.wheel.tick(now, mark);
            if let Some((slot, head)) = st.wheel.begin_due_slot(now, mark) {
                drop(st);
                let dues = self.walk(slot, head);
                st = self.state.lock();
                for d in dues {
                    st.wheel.push_active(d);
                }
            }
            let batch = st.wheel.pop_due(now, DELIVER_BATCH);
            if batch.is_empty() {
                let wait = match st.wheel.next_event() {
                    Some(t) => Duration::from_millis((t - now_millis()).clamp(1, 100) as u64),
                    None => MAX_IDLE,
                };
                self.dequeue_cv.wait_for(&mut st, wait);
                continue;
            }
            drop(st);
            let mut retry = Vec::new();
            for d in batch {
                match self.deliver(&d, &mut copies) {
                    Outcome::Delivered => self.counters.delivered.fetch_add(1, Ordering::Relaxed),
                    Outcome::AlreadyDelivered => {
                        self.counters.skipped_delivered.fetch_add(1, Ordering::Relaxed)
                    }
                    Outcome::Lost => self.counters.lost.fetch_add(1, Ordering::Relaxed),
                    Outcome::Retry => {
                        retry.push(d);
                        0
                    }
                };
            }
            st = self.state.lock();
            if !retry.is_empty() {
                st.wheel.retry_later(retry);
                self.dequeue_cv.wait_for(&mut st, RETRY_PAUSE);
            }
        }
    }

    /// The entries of a slot taken out of the wheel, following the `prev` links.
    fn walk(&self, slot: i64, head: SlotHead) -> Vec<Due> {
        let mut out = Vec::with_capacity(head.count as usize);
        let mut idx = head.last;
        while idx != NO_PREV {
            match self.log.read(idx as u64) {
                Ok(e) => {
                    out.push(Due {
                        deliver_ms: e.deliver_ms,
                        cq_offset: e.cq_offset,
                        phy: e.phy,
                        size: e.size,
                    });
                    if e.prev >= idx {
                        tracing::error!(
                            slot,
                            entry = idx,
                            prev = e.prev,
                            "timer-log link goes forward; slot cut short"
                        );
                        break;
                    }
                    idx = e.prev;
                }
                Err(err) => {
                    tracing::error!(slot, entry = idx, error = %err, "timer-log entry unreadable; slot cut short");
                    break;
                }
            }
        }
        if out.len() != head.count as usize {
            let missing = head.count as usize - out.len().min(head.count as usize);
            tracing::error!(
                slot,
                expected = head.count,
                found = out.len(),
                "timer slot list incomplete"
            );
            self.counters.lost.fetch_add(missing as u64, Ordering::Relaxed);
        }
        out
    }

    fn deliver(&self, d: &Due, copies: &mut HashMap<i64, CopyOf>) -> Outcome {
        let copy = copies.remove(&d.phy);
        let Some(rec) = self.store.look_message_by_offset(d.phy) else {
            tracing::error!(
                phy = d.phy,
                queue_offset = d.cq_offset,
                "timer record no longer in the commit log (deleted by retention?); not delivered"
            );
            return Outcome::Lost;
        };
        let v = match RecordView::parse(&rec, false) {
            Ok(v) if v.topic == WHEEL_TIMER_TOPIC && v.queue_offset == d.cq_offset => v,
            _ => {
                tracing::error!(phy = d.phy, queue_offset = d.cq_offset, "the commit log holds a different record where the timer record was; not delivered");
                return Outcome::Lost;
            }
        };
        if copy.is_some_and(|c| c.matches(&v)) {
            return Outcome::AlreadyDelivered;
        }
        let m = match delivered_copy(&rec, &v, d.phy, now_millis()) {
            Ok(m) => m,
            Err(why) => {
                tracing::error!(phy = d.phy, why, "timer record cannot be delivered");
                return Outcome::Lost;
            }
        };
        // The copy's ticket is forwarded, not awaited (the timer thread must not block on a
        // group commit): the copy is idempotent on recovery (a delivered copy is recognised
        // above), and a failed fsync poisons the store, which refuses the next put.
        let put = self.store.put_message(m);
        put.ticket.on_durable(Box::new(|r| {
            if let Err(e) = r {
                tracing::warn!(%e, "a timer delivery copy may not be durable");
            }
        }));
        let r = put.result;
        match r.status {
            s if s.is_stored() => Outcome::Delivered,
            PutMessageStatus::MessageIllegal | PutMessageStatus::PropertiesSizeExceeded => {
                tracing::error!(phy = d.phy, status = ?r.status, remark = %r.remark, "timer copy refused by the store; not delivered");
                Outcome::Lost
            }
            _ => {
                tracing::warn!(phy = d.phy, status = ?r.status, remark = %r.remark, "timer delivery failed; retrying");
                Outcome::Retry
            }
        }
    }
}

/// The delivery time of a stored timer record: the request's time relative to the record's
/// store time (so `TIMER_DELAY_*` count from when the broker took the message), else the
/// wheel slot Java would fire (`TIMER_OUT_MS` + one step), else now.
fn requested_time(v: &RecordView<'_>, precision_ms: i64) -> i64 {
    match requested_deliver_ms(v.properties, v.store_timestamp) {
        Ok(Some(t)) => t,
        _ => v
            .property(TIMER_OUT_MS)
            .and_then(|s| s.parse::<i64>().ok())
            .map_or(0, |o| o.saturating_add(precision_ms)),
    }
}
