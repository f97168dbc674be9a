//! A group of `mqcontroller` processes on free loopback ports, one store dir each: start,
//! kill -9 and restart any of them, and find the leader.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::header::GetMetaDataResponseHeader;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};

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
    peers: String,
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
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("n{i}-{a}"))
            .collect::<Vec<_>>()
            .join(";");
        let mut c = Controllers {
            dir: dir.to_path_buf(),
            addrs,
            peers,
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            procs: (0..n).map(|_| None).collect(),
            client: RemotingClient::new(ClientConfig::default()),
        };
        for i in 0..n {
            c.start_one(i);
        }
        c
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
        set("controllerDLegerPeers", &self.peers);
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

    /// The index of the running controller that says it leads, if one does now.
    pub async fn leader_now(&self) -> Option<usize> {
        for i in 0..self.addrs.len() {
            if !self.running(i) {
                continue;
            }
            let r =
                self.invoke(i, RemotingCommand::request(req::CONTROLLER_GET_METADATA_INFO)).await;
            if let Some(r) = r.filter(|r| r.code == rc::SUCCESS) {
                if r.decode_header::<GetMetaDataResponseHeader>().is_ok_and(|h| h.is_leader) {
                    return Some(i);
                }
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
