//! The fault schedule against classic replication: 1 name server and a master + slave pair
//! on their own loopback addresses (the slave's HA link and the clients' link to the master
//! through fault proxies), our client (`mq_history::drive`) and ali-ons (`interop/history.js`)
//! sending and consuming continuously, while rounds of kill -9 / SIGSTOP / partitions hit the
//! slave, the clients' link to the master, and kill -9 hits the master (the ASYNC_MASTER round
//! keeps only the steps whose outcome differs from SYNC_MASTER's). Then a final read-back
//! of both replicas and the checker over all the histories: no acknowledged message lost, no
//! queue offset holding two messages.
//!
//! Two schedules, run one after the other (they share the machine's two cores):
//! * SYNC_MASTER + SYNC_FLUSH: the slave is read back while the master is down, and must hold
//!   every acknowledged message.
//! * ASYNC_MASTER + ASYNC_FLUSH: the master acknowledges before the slave has a message, so a
//!   read of the slave while the master is down is `via: lagging` (it must agree with every
//!   other read, it may miss the latest acknowledgements). kill -9 of the master keeps its
//!   page cache, so once it is back nothing it acknowledged may be missing, on it or (after
//!   catching up) on the slave.
//!
//! `HISTORY_ROUNDS` sets the rounds of each (default 1: CI time), `HISTORY_SECONDS` a time
//! after which no round starts;
//! `HISTORY_KEEP=DIR` copies the histories to `DIR/sync` and `DIR/async` for `mqhistory check`
//! (scripts/history-soak.sh does both).

mod common;

use std::time::Duration;

use common::{budget, rounds, Clients, QUEUES, TOPIC};
use mq_history::readback::{read_replica, Replica};
use mq_history::schedule::{run, Direction, Fault, Faults, Schedule, Step};
use mq_history::{Recorder, Via};
use mq_test_support::cluster::{Cluster, ProxiedGroup, FAST_HA};
use mq_test_support::fault_proxy::{Cut, FaultProxy};
use mq_test_support::replica::{wait_caught_up, wait_replicating, wait_topic_served};

const GROUP: &str = "broker-a";

/// The two schedules share one machine: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The classic pair behind the schedule's [`Faults`]: targets `master` and `slave`, links
/// `slave-master` (the slave's HA connection) and `clients-master` (every client's
/// connection to the master), each through a fault proxy.
struct Classic {
    c: Cluster,
    ha_link: FaultProxy,
    clients_link: FaultProxy,
    /// ASYNC_MASTER: a slave read during the run may lag.
    lagging_slave: bool,
}

impl Classic {
    fn process(target: &str) -> &'static str {
        match target {
            "master" => "a-m",
            "slave" => "a-s",
            t => panic!("unknown target {t}"),
        }
    }

    fn link(&self, link: &str) -> &FaultProxy {
        match link {
            "slave-master" => &self.ha_link,
            "clients-master" => &self.clients_link,
            l => panic!("unknown link {l}"),
        }
    }
}

impl Faults for Classic {
    async fn kill(&mut self, target: &str) {
        self.c.kill(Self::process(target));
    }
    async fn restart(&mut self, target: &str) {
        self.c.start_broker(Self::process(target)).await;
    }
    async fn pause(&mut self, target: &str) {
        self.c.freeze(Self::process(target));
    }
    async fn resume(&mut self, target: &str) {
        self.c.thaw(Self::process(target));
    }
    async fn partition(&mut self, link: &str, dir: Direction) {
        self.link(link).cut(match dir {
            Direction::Both => Cut::Both,
            Direction::ToServer => Cut::ToServer,
            Direction::ToClient => Cut::ToClient,
        });
    }
    async fn heal(&mut self, link: &str) {
        self.link(link).heal();
    }
    async fn read_back(&mut self, replica: &str, rec: &Recorder) -> anyhow::Result<usize> {
        let r = Replica { broker: GROUP.into(), addr: self.c.host(Self::process(replica)).addr() };
        let via =
            if self.lagging_slave && replica == "slave" { Via::Lagging } else { Via::Readback };
        read_replica(&r, TOPIC, QUEUES, via, rec).await
    }
    async fn settle(&mut self) {
        let (m, s) = (self.c.host("a-m").addr(), self.c.host("a-s").addr());
        wait_replicating(&m).await;
        wait_caught_up(&m, &s).await;
    }
}

/// One SYNC_MASTER round: every fault the classic pair has, the slave's first, then the
/// clients' link to the master (both ways: requests and answers held; master→clients only:
/// the sends are stored, their outcome unknown), then the master's kill -9 while the slave is
/// read back (it must hold every acknowledged message).
fn sync_round() -> Vec<Step> {
    let hold = Duration::from_millis(1500);
    vec![
        Step::new(Fault::Kill, "slave", Duration::from_secs(1)),
        Step::new(Fault::Pause, "slave", hold),
        Step::new(Fault::Partition(Direction::Both), "slave-master", hold),
        Step::new(Fault::Partition(Direction::ToServer), "slave-master", hold),
        Step::new(Fault::Partition(Direction::Both), "clients-master", hold),
        Step::new(Fault::Partition(Direction::ToClient), "clients-master", hold),
        Step::new(Fault::Kill, "master", hold).reading_back("slave"),
    ]
}

/// One ASYNC_MASTER round, the faults whose outcome differs from SYNC_MASTER's (CI time): the
/// slave paused while the master keeps acknowledging (the lag grows), the clients' requests
/// to the master dropped, and the master's kill -9 while the (lagging) slave is read back.
fn async_round() -> Vec<Step> {
    let hold = Duration::from_millis(1500);
    vec![
        Step::new(Fault::Pause, "slave", hold),
        Step::new(Fault::Partition(Direction::ToServer), "clients-master", hold),
        Step::new(Fault::Kill, "master", hold).reading_back("slave"),
    ]
}

/// Run `rounds` of `round` against a pair whose master has `role` and `flush`.
async fn schedule(role: &str, flush: &str, round: Vec<Step>, rounds: usize, label: &str) {
    let _one = ONE_AT_A_TIME.lock().await;
    let settings: Vec<_> = FAST_HA
        .iter()
        .copied()
        .chain([("flushDiskType", flush), ("slaveReadEnable", "true")])
        .collect();
    let mut c = Cluster::start(1, &settings).await;
    let ProxiedGroup { slave, ha_link, clients_link, .. } = c.add_proxied_group("a", role).await;
    c.create_topic(TOPIC, QUEUES).await;
    wait_topic_served(&slave, TOPIC).await;
    let clients = Clients::start(c.dir.path(), &c.namesrv_list()).await;

    let lagging_slave = role == "ASYNC_MASTER";
    let mut cl = Classic { c, ha_link, clients_link, lagging_slave };
    let sched = Schedule { steps: round, rounds, budget: budget() };
    let ran = run(&mut cl, &sched, &clients.faults()).await.expect("schedule");
    cl.settle().await;
    let ns = cl.c.namesrv_list();
    clients.finish(&ns, ran * sched.faults_per_round(), label).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_keeps_every_acknowledged_message_across_the_schedule() {
    schedule("SYNC_MASTER", "SYNC_FLUSH", sync_round(), rounds(1), "sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_master_keeps_every_acknowledged_message_across_the_schedule() {
    schedule("ASYNC_MASTER", "ASYNC_FLUSH", async_round(), rounds(1), "async").await;
}
