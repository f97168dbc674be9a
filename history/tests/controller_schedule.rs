//! The fault schedule against controller mode (issue 19): 3 `mqcontroller`, 1 name server and
//! a 3-replica group of `mqbroker`s with `enableControllerMode=true` and
//! `allAckInSyncStateSet=true` (short heartbeats and lease: `controllers::BROKER_TIMINGS`),
//! our client and ali-ons sending and consuming continuously, while each round
//! * kills -9 the master (a replica is elected; the old one restarts and rejoins as a replica),
//! * SIGSTOPs the master past its lease (a replica is elected; the old one, resumed, must not
//!   acknowledge anything as master again),
//! * cuts the master off from every controller but not from its clients or replicas (each
//!   broker reaches the controllers through fault proxies of its own): it must stop
//!   acknowledging within its lease while a replica is elected; then one way only, its
//!   requests lost (the same), then the controllers' answers lost (its heartbeats still
//!   arrive: nobody is elected, it must fence itself when its lease runs out);
//! * lets the master reach only some controllers: not the leader (nor the leader's address
//!   the followers name), then only the leader;
//! * cuts the master's HA port off from its replicas one way (each broker's replicas reach it
//!   through a fault proxy): their acknowledgements lost (held past
//!   `haMaxTimeSlaveNotCatchup`: the master drops them from the in-sync set and acknowledges
//!   alone, then they catch up and rejoin), then its frames lost;
//! * cuts the master off from the name server only (past `brokerChannelExpiredTime`: the
//!   route is dropped, and must come back once healed);
//! * kills -9 the controller leader (a minority) and restarts it,
//! * cuts a follower controller off from the other two, both ways (a minority): the leader
//!   keeps leading,
//! * cuts the controller leader off from the other two controllers, both ways (each
//!   controller reaches each other one through a fault proxy of its own; brokers still reach
//!   all three): before the heal, the two must have elected a leader and the one alone must
//!   not say it leads; then again with the master kill -9'd meanwhile (the majority elects
//!   a new master as well),
//! * kills -9 two controllers (the majority, the leader among them) while every replica is
//!   read back: writes may stop, nothing acknowledged may be missing from any replica in the
//!   master's in-sync set (the others are read as lagging: checked for conflicts only).
//!
//! Then a final read-back of every replica and the checker: no acknowledged message lost, no
//! queue offset holding two messages. `HISTORY_ROUNDS` (default 1), `HISTORY_SECONDS` (no
//! round starts after that many seconds), `HISTORY_KEEP=DIR` (histories in `DIR/controller`).
//!

mod common;

use std::time::Duration;

use common::{budget, rounds, Clients, QUEUES, TOPIC};
use mq_client::Admin;
use mq_history::readback::{read_replica, Replica};
use mq_history::schedule::{run, Direction, Fault, Faults, Schedule, Step};
use mq_history::{Recorder, Via};
use mq_test_support::cluster::{Cluster, Node};
use mq_test_support::controllers::{Controllers, BROKER_TIMINGS};
use mq_test_support::fault_proxy::{Cut, FaultProxy};
use mq_test_support::replica::{max_offset, runtime_info};
use mq_test_support::{ensure_bins, wait_until};

const GROUP: &str = "broker-c";
const BROKERS: [&str; 3] = ["r1", "r2", "r3"];
/// Bound of every wait for the group to (re)form.
const T: Duration = Duration::from_secs(30);

/// The controller-mode group behind the schedule's [`Faults`]. Targets: `master` (whichever
/// broker the name server routes as master when the fault starts), `controller-leader`,
/// `controller-majority` (the leader and one more), `replicas` (read back: every broker);
/// links `master-controllers` (the master's proxies to the controllers), `master-leader`
/// (its proxy to the controller leader, and the followers' links to the leader: the address a
/// follower names as leader is then cut too, as it would be on a real network),
/// `master-followers` (its proxies to the other two), `master-replicas` (the proxy in front of
/// its HA port), `master-namesrv` (its proxy to the name server), `controller-leader-peers`
/// and `controller-follower-peers` (that controller's links to and from the other two).
struct ControllerMode {
    ctls: Controllers,
    c: Cluster,
    ns: String,
    /// Every broker's fault proxies.
    links: Vec<BrokerLinks>,
    /// The broker or controllers the current fault hit (to restart, resume or heal them).
    hit_broker: Option<&'static str>,
    hit_ctls: Vec<usize>,
    /// Why the last health check failed on a replica's queues (for the panic message).
    lagging_queues: Option<String>,
}

/// One broker's fault proxies: to each controller, to the name server, and in front of its
/// HA port (its replicas' links to it while it is master).
struct BrokerLinks {
    name: &'static str,
    to_ctls: Vec<FaultProxy>,
    to_ns: FaultProxy,
    ha: FaultProxy,
}

impl BrokerLinks {
    fn all(&self) -> impl Iterator<Item = &FaultProxy> {
        self.to_ctls.iter().chain([&self.to_ns, &self.ha])
    }
}

/// The name server drops a broker not heard from for this long (scanned every 500 ms), so
/// that the master cut off from it loses its route within the step (Java's default: 120 s).
const NS_EXPIRY: &[(&str, &str)] =
    &[("brokerChannelExpiredTime", "3000"), ("scanNotActiveBrokerInterval", "500")];

impl ControllerMode {
    async fn start() -> ControllerMode {
        ensure_bins(&["mqcontroller"]);
        let mut c = Cluster::start_with(1, NS_EXPIRY, BROKER_TIMINGS).await;
        // In the cluster's directory, so that `HISTORY_KEEP` keeps their logs too.
        let ctls = Controllers::start_linked(c.dir.path(), 3, &[]).await;
        ctls.wait_leader(T).await;
        let mut links = Vec::new();
        for n in BROKERS {
            let mut to_ctls = Vec::new();
            for a in &ctls.addrs {
                to_ctls.push(FaultProxy::start("127.0.0.1", a).await);
            }
            let list = to_ctls.iter().map(|p| p.addr.as_str()).collect::<Vec<_>>().join(";");
            let to_ns = c.namesrv_proxy(0).await;
            // brokerRole / brokerId are ignored in controller mode.
            let node = Node::master(n, GROUP, "ASYNC_MASTER")
                .set("controllerAddr", &list)
                .set("namesrvAddr", &to_ns.addr);
            let (_, ha) = c.add_broker_unrouted_ha_proxied(node).await;
            links.push(BrokerLinks { name: n, to_ctls, to_ns, ha });
        }
        let ns = c.namesrv(0).to_string();
        let mut g = ControllerMode {
            ctls,
            c,
            ns,
            links,
            hit_broker: None,
            hit_ctls: Vec::new(),
            lagging_queues: None,
        };
        g.settle().await;
        let admin = Admin::connect(&g.ns).await.unwrap();
        let tc = mq_common::protocol::body::TopicConfig::new(TOPIC, QUEUES, 6);
        for n in BROKERS {
            let target = mq_client::admin::BrokerTarget::Addr(g.c.host(n).addr());
            admin.create_topic(&target, &tc).await.expect("create topic");
        }
        admin.close();
        g
    }

    /// The broker the name server routes as master now.
    async fn routed_master(&self) -> Option<&'static str> {
        let a = Admin::connect(&self.ns).await.ok()?;
        let info = a.cluster_info().await.ok();
        a.close();
        let addr = info?.broker_addr_table.get(GROUP)?.broker_addrs.get("0").cloned()?;
        BROKERS.into_iter().find(|n| self.c.host(n).addr() == addr)
    }

    async fn master_now(&self) -> &'static str {
        wait_until("a routed master", T, || self.routed_master()).await
    }

    /// Broker `n`'s fault proxies.
    fn links_of(&self, n: &str) -> &BrokerLinks {
        self.links.iter().find(|l| l.name == n).expect("a known broker")
    }

    /// Whether `n` is a writable (unfenced) master with all three replicas in sync and caught
    /// up.
    async fn healthy(&mut self, n: &str) -> bool {
        let Some(info) = runtime_info(&self.c.host(n).addr()).await else { return false };
        let sss = info.get("syncStateSet").map(|s| s.split(',').count()).unwrap_or(0);
        // `writable`: not a replica and not fenced (a master whose lease ran out keeps its
        // role and in-sync set until a controller answers; the next step must not start on it).
        if info.get("writable").map(String::as_str) != Some("true") || sss != 3 {
            return false;
        }
        let Some(end) = info.get("commitLogMaxOffset").and_then(|v| v.parse::<i64>().ok()) else {
            return false;
        };
        let queue_ends = self.queue_ends(n).await;
        for r in BROKERS.into_iter().filter(|r| *r != n) {
            if max_offset(&self.c.host(r).addr()).await.is_none_or(|o| o < end) {
                return false;
            }
            // The log alone is not enough: its messages must be in the replica's queues too
            // (what consumers and a promoted replica serve).
            let ends = self.queue_ends(r).await;
            if ends.iter().zip(&queue_ends).any(|(e, m)| e < m) {
                self.lagging_queues = Some(format!("{r} {ends:?} < master {n} {queue_ends:?}"));
                return false;
            }
        }
        true
    }

    /// The controller broker ids in the routed master's in-sync set (empty if no master
    /// answers: every replica is then read as possibly lagging).
    async fn in_sync_ids(&self) -> Vec<String> {
        let Some(m) = self.routed_master().await else { return Vec::new() };
        let info = runtime_info(&self.c.host(m).addr()).await.unwrap_or_default();
        let set = info.get("syncStateSet").cloned().unwrap_or_default();
        set.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    /// Before a controller cut off from its peers is healed (or a killed one restarts): the
    /// other two have elected a leader among them, and the one cut off does not say it leads
    /// (it cannot be elected alone, and a leader that lost its quorum must stop answering
    /// brokers as one).
    async fn majority_elected_without(&self, cut: usize) {
        let others: Vec<usize> = (0..3).filter(|i| *i != cut).collect();
        wait_until("a leader on the majority side, none on the minority", T, || async {
            let mut leads = false;
            for i in &others {
                leads |= self.ctls.leads(*i).await;
            }
            leads && !self.ctls.leads(cut).await
        })
        .await;
    }

    /// The end (max offset) of each queue of the topic at broker `n` (-1: no answer).
    async fn queue_ends(&self, n: &str) -> Vec<i64> {
        let addr = self.c.host(n).addr();
        let Ok(a) = Admin::new(vec![addr.clone()], Duration::from_secs(5)) else { return vec![] };
        let mut out = Vec::new();
        for q in 0..QUEUES {
            let mq = mq_client::MessageQueue::new(TOPIC, GROUP, q);
            out.push(a.api().max_offset(&addr, &mq).await.unwrap_or(-1));
        }
        a.close();
        out
    }
}

impl Faults for ControllerMode {
    async fn kill(&mut self, target: &str) {
        if target == "master" {
            let m = self.master_now().await;
            self.hit_broker = Some(m);
            self.c.kill(m);
            return;
        }
        let leader = self.ctls.wait_leader(T).await;
        self.hit_ctls = vec![leader];
        if target == "controller-majority" {
            self.hit_ctls.push((leader + 1) % 3);
        }
        for i in self.hit_ctls.clone() {
            self.ctls.kill(i);
        }
    }
    async fn restart(&mut self, target: &str) {
        if target == "master" {
            let n = self.hit_broker.take().expect("a killed broker");
            self.c.spawn_broker(n);
            return;
        }
        if target == "controller-leader" {
            // The other two elect a leader before it returns: their election timeout is
            // openraft's leader lease (the election timeout's max) plus a random election
            // timeout, 1.5-2 s with these timings, and a leader restarted before that resumes
            // its leadership (openraft restores a committed vote of its own as leader), so a
            // short hold would never exercise a controller failover.
            self.majority_elected_without(self.hit_ctls[0]).await;
        }
        for i in std::mem::take(&mut self.hit_ctls) {
            self.ctls.start_one(i);
        }
    }
    async fn pause(&mut self, target: &str) {
        assert_eq!(target, "master");
        let m = self.master_now().await;
        self.hit_broker = Some(m);
        self.c.freeze(m);
    }
    async fn resume(&mut self, _target: &str) {
        self.c.thaw(self.hit_broker.take().expect("a paused broker"));
    }
    async fn partition(&mut self, link: &str, dir: Direction) {
        let cut = match dir {
            Direction::Both => Cut::Both,
            Direction::ToServer => Cut::ToServer,
            Direction::ToClient => Cut::ToClient,
        };
        if let Some(which) = link.strip_prefix("controller-") {
            assert_eq!(dir, Direction::Both, "controllers are cut off both ways");
            let leader = self.ctls.wait_leader(T).await;
            let hit = match which {
                "leader-peers" => leader,
                "follower-peers" => (leader + 1) % 3,
                _ => panic!("unknown link {link}"),
            };
            self.hit_ctls = vec![hit];
            self.ctls.isolate(hit);
            return;
        }
        let m = self.master_now().await;
        self.hit_broker = Some(m);
        let links = self.links_of(m);
        // Proxies to the controllers are in the controllers' order (= their ids).
        let leader = || self.ctls.wait_leader(T);
        let hit: Vec<&FaultProxy> = match link {
            "master-controllers" => links.to_ctls.iter().collect(),
            "master-leader" => {
                let l = leader().await;
                // A follower names the leader at its own peer-list address, which here is its
                // link to the leader: cut it too, or the broker would reach the leader
                // through it (the follower's requests to the leader are votes only, none
                // while the leader holds).
                for f in (0..3).filter(|f| *f != l) {
                    self.ctls.cut_link(f, l, Cut::Both);
                }
                vec![&links.to_ctls[l]]
            }
            "master-followers" => {
                let l = leader().await;
                links.to_ctls.iter().enumerate().filter(|(i, _)| *i != l).map(|(_, p)| p).collect()
            }
            "master-replicas" => vec![&links.ha],
            "master-namesrv" => vec![&links.to_ns],
            _ => panic!("unknown link {link}"),
        };
        for p in hit {
            p.cut(cut);
        }
    }
    async fn heal(&mut self, link: &str) {
        if link.starts_with("controller-") {
            let cut = std::mem::take(&mut self.hit_ctls)[0];
            self.majority_elected_without(cut).await;
            self.ctls.heal_links();
            return;
        }
        let m = self.hit_broker.take().expect("a cut-off broker");
        for p in self.links_of(m).all() {
            p.heal();
        }
        self.ctls.heal_links();
    }
    /// Every replica, strictly (`via: readback`) when it is in the master's in-sync set now,
    /// else as `via: lagging`: `allAckInSyncStateSet` promises an acknowledged message on
    /// every member of the set, not on a replica outside it (e.g. a deposed master still
    /// catching up after cutting its tail), which is checked for conflicts only.
    async fn read_back(&mut self, replica: &str, rec: &Recorder) -> anyhow::Result<usize> {
        assert_eq!(replica, "replicas");
        let in_sync = self.in_sync_ids().await;
        let mut n = 0;
        for b in BROKERS {
            let addr = self.c.host(b).addr();
            let id = runtime_info(&addr).await.and_then(|i| i.get("controllerBrokerId").cloned());
            let strict = id.is_some_and(|id| in_sync.contains(&id));
            let via = if strict { Via::Readback } else { Via::Lagging };
            let r = Replica { broker: GROUP.into(), addr };
            n += read_replica(&r, TOPIC, QUEUES, via, rec).await?;
        }
        Ok(n)
    }
    /// A leader among the controllers, a routed master that is writable with all three
    /// replicas in its in-sync set, and every replica holding its whole log.
    async fn settle(&mut self) {
        self.ctls.wait_leader(T).await;
        let end = std::time::Instant::now() + T;
        loop {
            if let Some(m) = self.routed_master().await {
                if self.healthy(m).await {
                    return;
                }
            }
            if std::time::Instant::now() > end {
                self.c.dump_logs();
                panic!(
                    "the group did not settle within {T:?} (queues behind: {:?})",
                    self.lagging_queues
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One round: the master's faults, then the controllers'.
fn controller_round() -> Vec<Step> {
    vec![
        // The master's: kill -9 (it restarts as a replica), then pause and isolation held
        // past its 1.5 s lease and the election.
        Step::new(Fault::Kill, "master", Duration::from_millis(1500)),
        Step::new(Fault::Pause, "master", Duration::from_millis(2500)),
        Step::new(
            Fault::Partition(Direction::Both),
            "master-controllers",
            Duration::from_millis(2500),
        ),
        // One way: its heartbeats and registrations lost (as both ways), then the answers
        // lost while its heartbeats arrive (no election; it fences itself, writes stop).
        Step::new(
            Fault::Partition(Direction::ToServer),
            "master-controllers",
            Duration::from_millis(2500),
        ),
        Step::new(
            Fault::Partition(Direction::ToClient),
            "master-controllers",
            Duration::from_secs(2),
        ),
        // Reaching only some controllers: not the leader (a replica is elected), then only
        // the leader (nothing changes).
        Step::new(Fault::Partition(Direction::Both), "master-leader", Duration::from_millis(2500)),
        Step::new(
            Fault::Partition(Direction::Both),
            "master-followers",
            Duration::from_millis(1500),
        ),
        // The replicas' acknowledgements lost past haMaxTimeSlaveNotCatchup (3 s): the master
        // shrinks the in-sync set to itself and acknowledges alone; then its frames lost.
        Step::new(Fault::Partition(Direction::ToServer), "master-replicas", Duration::from_secs(4)),
        Step::new(
            Fault::Partition(Direction::ToClient),
            "master-replicas",
            Duration::from_millis(1500),
        ),
        // Cut off from the name server only, past its expiry (3 s): the route goes, then
        // comes back.
        Step::new(Fault::Partition(Direction::Both), "master-namesrv", Duration::from_secs(4)),
        Step::new(Fault::Kill, "controller-leader", Duration::from_millis(1500)),
        // A follower alone (a minority): the leader keeps its quorum.
        Step::new(
            Fault::Partition(Direction::Both),
            "controller-follower-peers",
            Duration::from_millis(1500),
        ),
        // The leader cut off from the other two (brokers still reach all three): the two
        // elect a leader, the one alone cannot, brokers follow the majority.
        Step::new(
            Fault::Partition(Direction::Both),
            "controller-leader-peers",
            Duration::from_millis(2500),
        ),
        // Again, and the master killed meanwhile: the majority elects a new master too.
        Step::new(
            Fault::Partition(Direction::Both),
            "controller-leader-peers",
            Duration::from_secs(3),
        )
        .then(Fault::Kill, "master"),
        // Held past the master's lease: writes stop.
        Step::new(Fault::Kill, "controller-majority", Duration::from_millis(2500))
            .reading_back("replicas"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_mode_keeps_every_acknowledged_message_across_the_schedule() {
    let mut g = ControllerMode::start().await;
    let clients = Clients::start(g.c.dir.path(), &g.ns).await;
    let sched = Schedule { steps: controller_round(), rounds: rounds(1), budget: budget() };
    let ran = run(&mut g, &sched, &clients.faults()).await.expect("schedule");
    g.settle().await;
    let ns = g.ns.clone();
    clients.finish(&ns, ran * sched.faults_per_round(), "controller").await;
}
