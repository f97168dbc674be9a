//! The checker: reads histories and proves (or refutes) what a replicated queue promises.
//!
//! * **No acknowledged send lost**: every key with an `ok` is in the final read-back
//!   (`recv` with `via: final`), at the (topic, broker, queue, offset) the broker answered.
//! * **Every replica read holds what was acknowledged before**: a read-back pass over one
//!   replica (a `read` event, then its `recv`s) holds every key its group acknowledged
//!   before the pass began (e.g. the slave read while the master is down), unless the pass
//!   is `via: lagging` (an ASYNC_MASTER's slave may miss the latest acknowledgements).
//! * **No offset holds two messages**: every (topic, broker, queue, offset) maps to one
//!   (key, body hash) across every `recv` (from any replica, any time) and every `ok` claim.
//! * **Bodies intact**: a `recv`'s hash is the hash its `invoke` recorded.
//! * **No phantom**: a key whose send definitely failed (`fail`) is never read.
//!
//! Duplicates (one key stored at two positions, e.g. a client retry after a timeout) are
//! reported but allowed: RocketMQ is at-least-once. Every finding carries its timeline: the
//! events of that key, and the faults in force or changing around it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::event::{Event, Kind, Via};

/// Findings of one kind shown with their timeline (the rest are counted).
const SHOWN_PER_PROBLEM: usize = 20;
/// Fault edges this long before and after a finding's events are shown with it (ms).
const FAULT_WINDOW_MS: i64 = 3000;

/// (topic, broker group, queue, queue offset).
pub type Pos = (String, String, i32, i64);

/// Who occupies one position: (key, hash) → the events that say so.
type Occupants<'a> = BTreeMap<(Option<&'a str>, Option<&'a str>), Vec<&'a Event>>;

/// Read and merge history files (one event per line; blank lines are skipped). A line that
/// is not an event is an error naming its file and line: a history the checker cannot read
/// whole proves nothing.
pub fn load(paths: &[impl AsRef<Path>]) -> anyhow::Result<Vec<Event>> {
    let mut all = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let text = std::fs::read_to_string(p)
            .map_err(|e| anyhow::anyhow!("read history {}: {e}", p.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e: Event = serde_json::from_str(line).map_err(|e| {
                anyhow::anyhow!("{}:{}: not a history event: {e}", p.display(), i + 1)
            })?;
            all.push(e);
        }
    }
    Ok(all)
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// Acknowledged, absent from the final read-back.
    LostAck,
    /// Acknowledged at one position, read back only at others.
    MovedAck,
    /// One position, two different messages.
    Conflict,
    /// A body whose hash is not the one sent.
    Corrupt,
    /// A send recorded as definitely failed was read.
    Phantom,
    /// One key at several positions (allowed, reported).
    Duplicate,
}

impl Problem {
    /// Whether this finding breaks a guarantee (duplicates do not).
    pub fn is_violation(self) -> bool {
        self != Problem::Duplicate
    }
}

/// One problem with its evidence.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What.
    pub problem: Problem,
    /// One line summary.
    pub summary: String,
    /// The key's events and the fault edges around them, in time order.
    pub timeline: Vec<Event>,
    /// Faults in force when the first of the key's events happened (`fault target`).
    pub faults_in_force: Vec<String>,
}

/// The checker's verdict.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `invoke` events.
    pub sends: usize,
    /// `ok` events.
    pub acked: usize,
    /// `fail` events.
    pub failed: usize,
    /// `info` events.
    pub unknown: usize,
    /// `recv` events.
    pub recvs: usize,
    /// Distinct positions in the final read-back.
    pub final_positions: usize,
    /// `fault` start events.
    pub faults: usize,
    /// Everything found, violations first.
    pub findings: Vec<Finding>,
    /// First event time (timelines are shown relative to it).
    pub t0: i64,
}

impl Report {
    /// Findings that break a guarantee.
    pub fn violations(&self) -> usize {
        self.findings.iter().filter(|f| f.problem.is_violation()).count()
    }

    /// Whether every guarantee held.
    pub fn valid(&self) -> bool {
        self.violations() == 0
    }

    /// Findings of one kind.
    pub fn count(&self, p: Problem) -> usize {
        self.findings.iter().filter(|f| f.problem == p).count()
    }

    /// Human-readable report: counts, then each finding with its timeline.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}: {} sends ({} acked, {} failed, {} unknown), {} recv ({} final positions), \
             {} faults; {} violations, {} duplicates",
            if self.valid() { "VALID" } else { "INVALID" },
            self.sends,
            self.acked,
            self.failed,
            self.unknown,
            self.recvs,
            self.final_positions,
            self.faults,
            self.violations(),
            self.count(Problem::Duplicate),
        );
        let mut shown: BTreeMap<Problem, usize> = BTreeMap::new();
        for f in &self.findings {
            let n = shown.entry(f.problem).or_default();
            *n += 1;
            if *n > SHOWN_PER_PROBLEM {
                continue;
            }
            let _ = writeln!(s, "\n{:?}: {}", f.problem, f.summary);
            if !f.faults_in_force.is_empty() {
                let _ = writeln!(s, "  faults in force: {}", f.faults_in_force.join(", "));
            }
            for e in &f.timeline {
                let _ = writeln!(s, "  {}", describe(e, self.t0));
            }
        }
        for (p, n) in shown.into_iter().filter(|(_, n)| *n > SHOWN_PER_PROBLEM) {
            let _ = writeln!(s, "\n... and {} more {p:?} findings", n - SHOWN_PER_PROBLEM);
        }
        s
    }
}

/// One timeline line: `+12.345s client type details`.
fn describe(e: &Event, t0: i64) -> String {
    let mut s = format!("+{:.3}s {} {:?}", (e.t - t0) as f64 / 1000.0, e.client, e.kind);
    if e.kind == Kind::Fault {
        let _ = write!(
            s,
            " {} {} {} (round {})",
            e.phase.as_deref().unwrap_or("?"),
            e.fault.as_deref().unwrap_or("?"),
            e.target.as_deref().unwrap_or("?"),
            e.round.map(|r| r.to_string()).unwrap_or_else(|| "?".into())
        );
        return s;
    }
    if let Some(k) = &e.key {
        let _ = write!(s, " key={k}");
    }
    if let Some(p) = pos(e) {
        let _ = write!(s, " at {}/{}/{}@{}", p.0, p.1, p.2, p.3);
    }
    for (name, v) in
        [("addr", &e.addr), ("hash", &e.hash), ("msgId", &e.msg_id), ("error", &e.error)]
    {
        if let Some(v) = v {
            let _ = write!(s, " {name}={v}");
        }
    }
    if let Some(v) = e.via {
        let _ = write!(s, " via={v:?}");
    }
    s
}

/// The position of an `ok` or `recv`, when it has one.
pub fn pos(e: &Event) -> Option<Pos> {
    Some((e.topic.clone()?, e.broker.clone()?, e.queue?, e.offset?))
}

/// Check merged events (any order; they are sorted by time here).
pub fn check(mut events: Vec<Event>) -> Report {
    events.sort_by_key(|e| e.t);
    let mut r = Report { t0: events.first().map(|e| e.t).unwrap_or(0), ..Default::default() };
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    let mut at: BTreeMap<Pos, Occupants> = BTreeMap::new();
    let mut final_keys: BTreeMap<&str, BTreeSet<Pos>> = BTreeMap::new();
    let mut final_positions = BTreeSet::new();
    let mut faults = Vec::new();
    let mut passes = Vec::new();
    let mut pass_keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut acks: Vec<&Event> = Vec::new();
    for e in &events {
        match e.kind {
            Kind::Invoke => r.sends += 1,
            Kind::Ok => r.acked += 1,
            Kind::Fail => r.failed += 1,
            Kind::Info => r.unknown += 1,
            Kind::Recv => r.recvs += 1,
            Kind::Read => {
                passes.push(e);
                continue;
            }
            Kind::Fault => {
                r.faults += usize::from(e.phase.as_deref() == Some("start"));
                faults.push(e);
                continue;
            }
        }
        if let Some(k) = e.key.as_deref() {
            by_key.entry(k).or_default().push(e);
            if let (Kind::Recv, Some(p)) = (e.kind, e.pass.as_deref()) {
                pass_keys.entry(p).or_default().insert(k);
            }
        }
        if e.kind == Kind::Ok {
            acks.push(e);
        }
        if matches!(e.kind, Kind::Ok | Kind::Recv) {
            if let Some(p) = pos(e) {
                let id = (e.key.as_deref(), e.hash.as_deref());
                at.entry(p.clone()).or_default().entry(id).or_default().push(e);
                if e.via == Some(Via::Final) {
                    final_positions.insert(p.clone());
                    if let Some(k) = e.key.as_deref() {
                        final_keys.entry(k).or_default().insert(p);
                    }
                }
            }
        }
    }
    r.final_positions = final_positions.len();
    let finding = |problem, summary: String, mut timeline: Vec<Event>| {
        let first = timeline.iter().map(|e| e.t).min().unwrap_or(0);
        let last = timeline.iter().map(|e| e.t).max().unwrap_or(0);
        timeline.extend(
            faults
                .iter()
                .filter(|f| f.t >= first - FAULT_WINDOW_MS && f.t <= last + FAULT_WINDOW_MS)
                .map(|f| (*f).clone()),
        );
        timeline.sort_by_key(|e| e.t);
        Finding { problem, summary, timeline, faults_in_force: in_force(&faults, first) }
    };
    let key_timeline = |k: &str| -> Vec<Event> {
        by_key.get(k).map(|v| v.iter().map(|e| (*e).clone()).collect()).unwrap_or_default()
    };

    for (k, evs) in &by_key {
        let sent = evs.iter().find(|e| e.kind == Kind::Invoke);
        let ok = evs.iter().find(|e| e.kind == Kind::Ok);
        let recvs: Vec<&&Event> = evs.iter().filter(|e| e.kind == Kind::Recv).collect();
        if let Some(ok) = ok {
            match (final_keys.get(k), pos(ok)) {
                (None, _) => r.findings.push(finding(
                    Problem::LostAck,
                    format!("{k} acknowledged at {:?} is not in the final read-back", pos(ok)),
                    key_timeline(k),
                )),
                (Some(found), Some(p)) if !found.contains(&p) => r.findings.push(finding(
                    Problem::MovedAck,
                    format!("{k} acknowledged at {p:?} is read back only at {found:?}"),
                    key_timeline(k),
                )),
                _ => {}
            }
        }
        if evs.iter().any(|e| e.kind == Kind::Fail) && !recvs.is_empty() {
            r.findings.push(finding(
                Problem::Phantom,
                format!("{k} failed definitely but was read {} times", recvs.len()),
                key_timeline(k),
            ));
        }
        if let Some(h) = sent.and_then(|s| s.hash.as_deref()) {
            if let Some(bad) = recvs.iter().find(|e| e.hash.as_deref().is_some_and(|x| x != h)) {
                r.findings.push(finding(
                    Problem::Corrupt,
                    format!("{k} sent with hash {h}, read with {:?}", bad.hash),
                    key_timeline(k),
                ));
            }
        }
        let stored: BTreeSet<Pos> = recvs.iter().filter_map(|e| pos(e)).collect();
        if stored.len() > 1 {
            r.findings.push(finding(
                Problem::Duplicate,
                format!("{k} stored {} times: {stored:?}", stored.len()),
                key_timeline(k),
            ));
        }
    }
    // A lagging replica's pass proves agreement (conflicts, bodies), not completeness.
    for p in passes.iter().filter(|p| p.via != Some(Via::Lagging)) {
        let (Some(id), Some(b)) = (p.pass.as_deref(), p.broker.as_deref()) else { continue };
        let held = pass_keys.get(id);
        let before =
            |o: &&&Event| o.t < p.t && o.broker.as_deref() == Some(b) && o.topic == p.topic;
        for ok in acks.iter().filter(before) {
            let Some(k) = ok.key.as_deref() else { continue };
            if !held.is_some_and(|h| h.contains(k)) {
                let mut tl = key_timeline(k);
                tl.push((*p).clone());
                r.findings.push(finding(
                    Problem::LostAck,
                    format!(
                        "{k} acknowledged before the read-back of {} ({:?}) began, absent from it",
                        p.addr.as_deref().unwrap_or("?"),
                        p.via
                    ),
                    tl,
                ));
            }
        }
    }
    for (p, ids) in &at {
        if ids.len() > 1 {
            let names: Vec<String> = ids
                .keys()
                .map(|(k, h)| format!("{}#{}", k.unwrap_or("?"), h.unwrap_or("?")))
                .collect();
            let mut tl: Vec<Event> = ids.values().flatten().map(|e| (*e).clone()).collect();
            for k in ids.keys().filter_map(|(k, _)| *k) {
                tl.extend(key_timeline(k).into_iter().filter(|e| e.kind != Kind::Recv));
            }
            // An `ok` is both a claim on the position and an event of its key: show it once.
            tl.sort_by(|a, b| (a.t, &a.client, a.kind).cmp(&(b.t, &b.client, b.kind)));
            tl.dedup();
            r.findings.push(finding(
                Problem::Conflict,
                format!("{}/{}/{}@{} holds {}", p.0, p.1, p.2, p.3, names.join(" and ")),
                tl,
            ));
        }
    }
    if r.acked > 0 && r.final_positions == 0 {
        r.findings.push(Finding {
            problem: Problem::LostAck,
            summary: format!("{} sends acknowledged but no final read-back recorded", r.acked),
            timeline: Vec::new(),
            faults_in_force: Vec::new(),
        });
    }
    r.findings.sort_by_key(|f| (f.problem, f.timeline.first().map(|e| e.t)));
    r
}

/// `fault target` of every fault started at or before `t` and not ended by then.
fn in_force(faults: &[&Event], t: i64) -> Vec<String> {
    let mut on: BTreeSet<String> = BTreeSet::new();
    for f in faults.iter().take_while(|f| f.t <= t) {
        let name =
            format!("{} {}", f.fault.as_deref().unwrap_or("?"), f.target.as_deref().unwrap_or("?"));
        if f.phase.as_deref() == Some("end") {
            on.remove(&name);
        } else {
            on.insert(name);
        }
    }
    on.into_iter().collect()
}
