//! A fault schedule as data: rounds of steps, each a fault on a named target, held for a
//! while (optionally reading back from other replicas meanwhile), then healed. The cluster
//! it runs against sits behind [`Faults`], so the same runner drives classic replication
//! today (`tests/classic_schedule.rs`) and controller mode (controller kills, master
//! isolation) once it exists. Every step's edges are recorded as `fault` events, so the
//! checker shows which faults were in force around a finding.

use std::time::Duration;

use crate::event::{Event, Kind};
use crate::recorder::Recorder;

/// Which directions a partition drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    Both,
    /// From the link's client side to its server side only.
    ToServer,
    /// From the server side to the client side only.
    ToClient,
}

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// kill -9, then start again on the same store once the hold is over.
    Kill,
    /// SIGSTOP, then SIGCONT.
    Pause,
    /// Cut a link (target names the link), then heal it.
    Partition(Direction),
}

impl Fault {
    /// Name in the history (`kill`, `pause`, `partition`, `partition-to-server`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Partition(Direction::Both) => "partition",
            Fault::Partition(Direction::ToServer) => "partition-to-server",
            Fault::Partition(Direction::ToClient) => "partition-to-client",
        }
    }
}

/// One step of a round.
#[derive(Debug, Clone)]
pub struct Step {
    /// What to inject.
    pub fault: Fault,
    /// A process (`master`, `slave`, `controller-1`) or a link (`slave-master`).
    pub target: String,
    /// How long the fault stays in force (the point of the test, not a wait for a state).
    pub hold: Duration,
    /// Replicas to read back from while the fault holds (recorded as `via: readback`).
    pub read_back: Vec<String>,
    /// A second fault and its target, injected once the first is in force and healed before
    /// it (e.g. the master killed while the controllers are partitioned).
    pub then: Option<(Fault, String)>,
}

impl Step {
    /// A step with no read-back.
    pub fn new(fault: Fault, target: &str, hold: Duration) -> Step {
        Step { fault, target: target.into(), hold, read_back: Vec::new(), then: None }
    }

    /// Inject `fault` on `target` too while this step's fault holds.
    pub fn then(mut self, fault: Fault, target: &str) -> Step {
        self.then = Some((fault, target.into()));
        self
    }

    /// The faults this step injects, in order.
    pub fn faults(&self) -> usize {
        1 + usize::from(self.then.is_some())
    }

    /// Read back from `replica` while the fault holds.
    pub fn reading_back(mut self, replica: &str) -> Step {
        self.read_back.push(replica.into());
        self
    }
}

/// Rounds of steps.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Steps of one round, in order.
    pub steps: Vec<Step>,
    /// How many times the round runs (at most).
    pub rounds: usize,
    /// No round starts once this long has passed since the first began (the first always
    /// runs): a soak of "as many rounds as fit in an hour", or a bound on a slow machine.
    pub budget: Option<Duration>,
}

/// The cluster a schedule runs against: processes and links by name. Each method returns
/// once the change is in effect (a restarted process is ready); [`Faults::settle`] once the
/// cluster is healthy again, so that the next step starts from a known state.
#[allow(async_fn_in_trait)] // used generically, never as `dyn`
pub trait Faults {
    /// kill -9 a process.
    async fn kill(&mut self, target: &str);
    /// Start a killed process again (same address and store) and wait until it serves.
    async fn restart(&mut self, target: &str);
    /// SIGSTOP a process.
    async fn pause(&mut self, target: &str);
    /// SIGCONT a paused process.
    async fn resume(&mut self, target: &str);
    /// Cut a link.
    async fn partition(&mut self, link: &str, dir: Direction);
    /// Heal a link.
    async fn heal(&mut self, link: &str);
    /// Read every queue of a replica into the history.
    async fn read_back(&mut self, replica: &str, rec: &Recorder) -> anyhow::Result<usize>;
    /// Wait until the cluster is healthy again after a step.
    async fn settle(&mut self);
}

/// Run `s` against `c`, recording every fault edge into `rec`; returns how many rounds ran
/// (fewer than `s.rounds` when the budget ran out). Read-back errors fail the run (a replica
/// that should answer did not).
pub async fn run<C: Faults>(c: &mut C, s: &Schedule, rec: &Recorder) -> anyhow::Result<usize> {
    let started = tokio::time::Instant::now();
    for round in 0..s.rounds {
        if round > 0 && s.budget.is_some_and(|b| started.elapsed() >= b) {
            return Ok(round);
        }
        for step in &s.steps {
            let faults: Vec<(Fault, &str)> = std::iter::once((step.fault, step.target.as_str()))
                .chain(step.then.as_ref().map(|(f, t)| (*f, t.as_str())))
                .collect();
            for (f, target) in &faults {
                edge(rec, *f, target, "start", round);
                match f {
                    Fault::Kill => c.kill(target).await,
                    Fault::Pause => c.pause(target).await,
                    Fault::Partition(d) => c.partition(target, *d).await,
                }
            }
            let until = tokio::time::Instant::now() + step.hold;
            for r in &step.read_back {
                c.read_back(r, rec).await?;
            }
            tokio::time::sleep_until(until).await;
            for (f, target) in faults.iter().rev() {
                match f {
                    Fault::Kill => c.restart(target).await,
                    Fault::Pause => c.resume(target).await,
                    Fault::Partition(_) => c.heal(target).await,
                }
                edge(rec, *f, target, "end", round);
            }
            c.settle().await;
        }
    }
    Ok(s.rounds)
}

impl Schedule {
    /// Fault starts in one round (the checker counts them).
    pub fn faults_per_round(&self) -> usize {
        self.steps.iter().map(Step::faults).sum()
    }
}

fn edge(rec: &Recorder, fault: Fault, target: &str, phase: &str, round: usize) {
    let mut e = Event::new(Kind::Fault, "schedule");
    e.fault = Some(fault.name().into());
    e.target = Some(target.into());
    e.phase = Some(phase.into());
    e.round = Some(round);
    rec.record(&e);
}
