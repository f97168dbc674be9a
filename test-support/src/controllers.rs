//! A group of `mqcontroller` processes on free loopback ports, one store dir each: start,
//! kill -9 and restart any of them, find the leader, and (started linked) cut one off from
//! the others.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::header::GetMetaDataResponseHeader;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};

use crate::fault_proxy::{Cut, FaultProxy};
use crate::ports::free_port;
use crate::proc::Proc;
use crate::wait::poll_until;

/// Fast timings for tests: Raft heartbeats every 100 ms, elections after 500-1000 ms, broker
/// heartbeat timeout 1.5 s, liveness scan every 200 ms.
pub const FAST_TIMINGS: [(&str, &str); 4] = [
    ("controllerRaftHeartbeatIntervalMs", "100"),
    ("controllerRaftElectionTimeoutMs", "500"),
    ("brokerHeartbeatTimeoutMills", "1500"),
    ("scanNotActiveBrokerInterval", "200"),
];

/// Running (or killed) controllers.
pub struct Controllers {
    dir: PathBuf,
    /// `host:port` of each, by index (node id).
    pub addrs: Vec<String>,
    /// Each one's `controllerDLegerPeers`, by index: the same list everywhere, unless the
    /// controllers reach each other through [`Controllers::links`].
    peers: Vec<String>,
    /// With [`Controllers::start_linked`]: `(from, to, proxy)`, the proxy `from` reaches `to`
    /// through (its Raft traffic; brokers and tests reach a controller directly).
    links: Vec<(usize, usize, FaultProxy)>,
    /// Settings passed to every start: the timings, then the caller's extras.
    extra: Vec<(String, String)>,
    procs: Vec<Option<Proc>>,
    client: RemotingClient,
}

impl Controllers {
    /// Start `n` controllers under `dir` with [`FAST_TIMINGS`] plus `extra` settings. The
    /// binary must be built ([`crate::ensure_bins`] with `mqcontroller` / `mq-controller`).
    pub fn start(dir: &Path, n: usize, extra: &[(&str, &str)]) -> Controllers {
        let all: Vec<(&str, &str)> =
            FAST_TIMINGS.iter().copied().chain(extra.iter().copied()).collect();
        Self::start_with_defaults(dir, n, &all)
    }

    /// Start `n` controllers under `dir` with the binary's default timings plus `extra`.
    pub fn start_with_defaults(dir: &Path, n: usize, extra: &[(&str, &str)]) -> Controllers {
        let addrs: Vec<String> = (0..n).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let peers = vec![peer_list(&addrs, |_, a| a.to_string()); n];
        Self::start_peers(dir, addrs, peers, Vec::new(), extra)
    }

    /// Like [`Controllers::start`], but each controller reaches each other one through a
    /// fault proxy of its own (its `controllerDLegerPeers` names the proxies, its own entry
    /// its real address), so that [`Controllers::isolate`] can cut one off from its peers
    /// while brokers still reach it.
    pub async fn start_linked(dir: &Path, n: usize, extra: &[(&str, &str)]) -> Controllers {
        let addrs: Vec<String> = (0..n).map(|_| format!("127.0.0.1:{}", free_port())).collect();
        let mut links = Vec::new();
        for from in 0..n {
            for to in (0..n).filter(|to| *to != from) {
                links.push((from, to, FaultProxy::start("127.0.0.1", &addrs[to]).await));
            }
        }
        let peers = (0..n)
            .map(|from| {
                peer_list(&addrs, |to, a| match links.iter().find(|l| l.0 == from && l.1 == to) {
                    Some((_, _, p)) => p.addr.clone(),
                    None => a.to_string(),
                })
            })
            .collect();
        let all: Vec<(&str, &str)> =
            FAST_TIMINGS.iter().copied().chain(extra.iter().copied()).collect();
        Self::start_peers(dir, addrs, peers, links, &all)
    }

    fn start_peers(
        dir: &Path,
        addrs: Vec<String>,
        peers: Vec<String>,
        links: Vec<(usize, usize, FaultProxy)>,
        extra: &[(&str, &str)],
    ) -> Controllers {
        let n = addrs.len();
        let mut c = Controllers {
            dir: dir.to_path_buf(),
            addrs,
            peers,
            links,
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            procs: (0..n).map(|_| None).collect(),
            client: RemotingClient::new(ClientConfig::default()),
        };
        for i in 0..n {
            c.start_one(i);
        }
        c
    }

    /// Cut controller `i` off from every other controller, both ways (started with
    /// [`Controllers::start_linked`]); brokers and this handle still reach it.
    pub fn isolate(&self, i: usize) {
        assert!(!self.links.is_empty(), "isolate needs Controllers::start_linked");
        for (_, _, p) in self.links.iter().filter(|(from, to, _)| *from == i || *to == i) {
            p.cut(Cut::Both);
        }
    }

    /// Cut the link controller `from` reaches controller `to` through (its Raft requests to
    /// `to` and their answers; `to`'s requests to `from` use another link), in the given
    /// directions. Started with [`Controllers::start_linked`].
    pub fn cut_link(&self, from: usize, to: usize, c: Cut) {
        let link = self.links.iter().find(|(f, t, _)| *f == from && *t == to);
        link.expect("cut_link needs Controllers::start_linked").2.cut(c);
    }

    /// Heal every link between controllers.
    pub fn heal_links(&self) {
        for (_, _, p) in &self.links {
            p.heal();
        }
    }

    /// `controllerAddr` for brokers: every address, `;`-separated.
    pub fn controller_addr(&self) -> String {
        self.addrs.join(";")
    }

    /// (Re)start controller `i` on its store.
    pub fn start_one(&mut self, i: usize) {
        let store = self.dir.join(format!("controller-n{i}"));
        let mut args = Vec::new();
        let mut set = |k: &str, v: &str| {
            args.push("--set".to_string());
            args.push(format!("{k}={v}"));
        };
        set("controllerDLegerPeers", &self.peers[i]);
        set("controllerDLegerSelfId", &format!("n{i}"));
        set("controllerStorePath", &store.display().to_string());
        for (k, v) in &self.extra {
            set(k, v);
        }
        self.procs[i] =
            Some(Proc::spawn(&self.dir, &format!("controller-n{i}"), "mqcontroller", &args, &[]));
    }

    /// kill -9 controller `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i].take() {
            p.kill();
        }
        self.client.close_channel(&self.addrs[i]);
    }

    /// Whether controller `i` is running.
    pub fn running(&self, i: usize) -> bool {
        self.procs[i].is_some()
    }

    /// Send `cmd` to controller `i`.
    pub async fn invoke(&self, i: usize, cmd: RemotingCommand) -> Option<RemotingCommand> {
        match self.client.invoke(&self.addrs[i], cmd, Duration::from_secs(5)).await {
            Ok(r) => Some(r),
            Err(_) => {
                self.client.close_channel(&self.addrs[i]);
                None
            }
        }
    }

    /// Whether controller `i` runs and says it leads now.
    pub async fn leads(&self, i: usize) -> bool {
        if !self.running(i) {
            return false;
        }
        let r = self.invoke(i, RemotingCommand::request(req::CONTROLLER_GET_METADATA_INFO)).await;
        r.filter(|r| r.code == rc::SUCCESS).is_some_and(|r| {
            r.decode_header::<GetMetaDataResponseHeader>().is_ok_and(|h| h.is_leader)
        })
    }

    /// The index of the running controller that says it leads, if one does now.
    pub async fn leader_now(&self) -> Option<usize> {
        for i in 0..self.addrs.len() {
            if self.leads(i).await {
                return Some(i);
            }
        }
        None
    }

    /// Wait up to `deadline` for a leader among the running controllers.
    pub async fn wait_leader(&self, deadline: Duration) -> usize {
        match poll_until(deadline, || self.leader_now()).await {
            Some(i) => i,
            None => panic!("no controller leader within {deadline:?}"),
        }
    }
}

/// `n0-addr;n1-addr;...` with `addr(i, addrs[i])` for each node.
fn peer_list(addrs: &[String], addr: impl Fn(usize, &str) -> String) -> String {
    addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("n{i}-{}", addr(i, a)))
        .collect::<Vec<_>>()
        .join(";")
}

/// Broker settings for controller mode under test (with [`FAST_TIMINGS`] on the controllers):
/// heartbeats every 200 ms, metadata and in-sync checks every 300 ms, a 1.5 s lease,
/// `allAckInSyncStateSet=true` (every acknowledged message is on every in-sync replica) and
/// slave reads, so a schedule's faults show in seconds. Add `controllerAddr`.
pub const BROKER_TIMINGS: &[(&str, &str)] = &[
    ("enableControllerMode", "true"),
    ("brokerHeartbeatInterval", "200"),
    ("syncBrokerMetadataPeriod", "300"),
    ("checkSyncStateSetPeriod", "300"),
    ("controllerHeartBeatTimeoutMills", "1500"),
    ("sendHeartbeatTimeoutMillis", "1000"),
    ("allAckInSyncStateSet", "true"),
    ("haMaxTimeSlaveNotCatchup", "3000"),
    ("haSendHeartbeatInterval", "200"),
    ("haHousekeepingInterval", "3000"),
    ("slaveTimeout", "3000"),
    ("haMetadataSyncInterval", "500"),
    ("slaveReadEnable", "true"),
    ("registerNameServerPeriod", "1000"),
    ("mappedFileSizeCommitLog", "4194304"),
    ("mappedFileSizeConsumeQueue", "60000"),
];
