//! Controller mode, the broker side (Java's `ReplicasManager`; `docs/controller.md`): with
//! `enableControllerMode=true` the controllers, not `brokerRole`, decide who is master.
//!
//! * at start ([`broker_id`]): the applied id from `<storePathRootDir>/brokerIdentity`, or a
//!   new one from the controller leader (GET_NEXT_BROKER_ID 1012, APPLY_BROKER_ID 1013);
//! * every `brokerHeartbeatInterval` ([`run`]): BROKER_HEARTBEAT (904) to every controller
//!   with the epoch, max offset and confirm offset; every `syncBrokerMetadataPeriod` (and every
//!   round while the group has no master): REGISTER (1003) to the leader, whose answer names
//!   the live master, its epoch and the in-sync set; ELECT_MASTER (1002) when it names none;
//! * the answer is applied at once ([`apply`]): master = epoch entry appended, writes accepted,
//!   registered with the name servers as `brokerId=0`; replica = writes refused, HA client of
//!   the named master (its HA address read from its GET_BROKER_CONFIG), registered under its own
//!   id. Role changes wake the name-server registration, so routes change at once;
//! * a controller's NOTIFY_BROKER_ROLE_CHANGED (1008) push starts a round at once;
//! * fencing: a newer epoch in any answer demotes a master; a master whose last answered
//!   registration was sent `controllerHeartBeatTimeoutMills` ago refuses writes until one
//!   answers ([`lease_watch`]; by then the controllers have elected another master);
//! * a master keeps the in-sync set (`checkSyncStateSetPeriod`): members that have not caught
//!   up for `haMaxTimeSlaveNotCatchup` leave, replicas that hold the confirm offset join
//!   (ALTER_SYNC_STATE_SET 1001).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_common::protocol::body::SyncStateSetBody;
use mq_common::protocol::codes::{request as rq, response as rc};
use mq_common::protocol::header::{
    AlterSyncStateSetRequestHeader, AlterSyncStateSetResponseHeader, ApplyBrokerIdRequestHeader,
    BrokerHeartbeatToControllerHeader, ElectMasterRequestHeader, GetMetaDataResponseHeader,
    GetNextBrokerIdRequestHeader, GetNextBrokerIdResponseHeader, MasterInfoResponseHeader,
    RegisterBrokerToControllerRequestHeader,
};
use mq_common::protocol::{now_millis, RemotingCommand};
use mq_common::remoting::{RemotingClient, RemotingError};

use super::HaConfig;
use crate::broker::Broker;
use crate::config::{BrokerConfig, BrokerRole};

/// Drop the connection to a controller after a failed request, unless the request only timed
/// out: the controllers treat a closed connection as this broker's death (Java's
/// `onBrokerChannelClose`), so a slow answer under load must not depose a live master.
fn drop_if_broken(client: &RemotingClient, addr: &str, e: &RemotingError) {
    if !matches!(e, RemotingError::Timeout { .. }) {
        client.close_channel(addr);
    }
}

/// The controller leader as last found, and the client to reach it.
struct Leader<'a> {
    client: &'a RemotingClient,
    addrs: Vec<String>,
    timeout: Duration,
    current: Option<String>,
}

impl<'a> Leader<'a> {
    fn new(client: &'a RemotingClient, cfg: &HaConfig) -> Self {
        Leader {
            client,
            addrs: cfg.controllers(),
            timeout: HaConfig::ms(cfg.send_heartbeat_timeout),
            current: None,
        }
    }

    /// Ask every controller who leads (CONTROLLER_GET_METADATA_INFO). A configured address
    /// that answers "I lead" is preferred to the leader address a follower names: that one is
    /// the peer-list address, which may not be the path this broker was given (a proxy, NAT,
    /// or a fault proxy in tests).
    async fn find(&mut self) -> Result<String, String> {
        let mut named = None;
        for a in &self.addrs {
            let req = RemotingCommand::request(rq::CONTROLLER_GET_METADATA_INFO);
            let r = match self.client.invoke(a, req, self.timeout).await {
                Ok(r) => r,
                Err(e) => {
                    drop_if_broken(self.client, a, &e);
                    continue;
                }
            };
            let Ok(h) = r.decode_header::<GetMetaDataResponseHeader>() else { continue };
            if h.is_leader {
                self.current = Some(a.clone());
                return Ok(a.clone());
            }
            if named.is_none() {
                named = h.controller_leader_address.filter(|l| !l.is_empty());
            }
        }
        if let Some(l) = named {
            self.current = Some(l.clone());
            return Ok(l);
        }
        Err(format!("no controller leader found among {}", self.addrs.join(";")))
    }

    /// Send `cmd` to the leader (finding it first, and again once when told to).
    async fn call(&mut self, cmd: RemotingCommand) -> Result<RemotingCommand, String> {
        let mut last = String::new();
        for _ in 0..2 {
            let leader = match self.current.clone() {
                Some(l) => l,
                None => self.find().await?,
            };
            match self.client.invoke(&leader, cmd.clone(), self.timeout).await {
                Ok(r) if r.code == rc::CONTROLLER_NOT_LEADER || r.code == rc::SYSTEM_BUSY => {
                    last = format!("{leader}: {}", r.remark.unwrap_or_default());
                    self.current = None;
                }
                Ok(r) => return Ok(r),
                Err(e) => {
                    last = format!("{leader}: {e}");
                    drop_if_broken(self.client, &leader, &e);
                    self.current = None;
                }
            }
        }
        Err(last)
    }
}

/// This broker's applied id: from `<storePathRootDir>/brokerIdentity`, else applied for at the
/// controller leader and written there. Retries until `deadline`.
pub async fn broker_id(
    cfg: &BrokerConfig,
    client: &RemotingClient,
    deadline: Duration,
) -> Result<u64, String> {
    let path = cfg.store.store_path_root_dir.join("brokerIdentity");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.lines().find_map(|l| l.trim().strip_prefix("brokerId=")).map(str::parse);
        return match id {
            Some(Ok(id)) => Ok(id),
            _ => Err(format!("{}: no brokerId=N line", path.display())),
        };
    }
    let mut leader = Leader::new(client, &cfg.ha);
    let until = Instant::now() + deadline;
    loop {
        match apply_for_id(cfg, &mut leader).await {
            Ok(id) => {
                let text = format!(
                    "brokerClusterName={}\nbrokerName={}\nbrokerId={id}\n",
                    cfg.broker_cluster_name, cfg.broker_name
                );
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, text)
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                tracing::info!(broker_id = id, "broker id applied at the controller");
                return Ok(id);
            }
            Err(e) if Instant::now() >= until => {
                return Err(format!(
                    "no broker id from the controllers ({}): {e}",
                    cfg.ha.controller_addr
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "applying for a broker id failed; retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

async fn apply_for_id(cfg: &BrokerConfig, leader: &mut Leader<'_>) -> Result<u64, String> {
    let next = leader
        .call(RemotingCommand::request_with_header(
            rq::CONTROLLER_GET_NEXT_BROKER_ID,
            &GetNextBrokerIdRequestHeader {
                cluster_name: cfg.broker_cluster_name.clone(),
                broker_name: cfg.broker_name.clone(),
            },
        ))
        .await?;
    let id = next
        .decode_header::<GetNextBrokerIdResponseHeader>()
        .map_err(|e| format!("GET_NEXT_BROKER_ID answer: {e}"))?
        .next_broker_id;
    let r = leader
        .call(RemotingCommand::request_with_header(
            rq::CONTROLLER_APPLY_BROKER_ID,
            &ApplyBrokerIdRequestHeader {
                cluster_name: cfg.broker_cluster_name.clone(),
                broker_name: cfg.broker_name.clone(),
                applied_broker_id: id,
                register_check_code: format!("{};{}", cfg.broker_addr(), now_millis()),
            },
        ))
        .await?;
    if r.code != rc::SUCCESS {
        return Err(format!(
            "APPLY_BROKER_ID {id}: code {} {}",
            r.code,
            r.remark.unwrap_or_default()
        ));
    }
    u64::try_from(id).map_err(|_| format!("bad broker id {id}"))
}

/// The group as one controller answer describes it.
#[derive(Debug, Clone)]
struct Answer {
    master_id: Option<u64>,
    master_addr: Option<String>,
    epoch: i32,
    sss: Vec<u64>,
    sss_epoch: i32,
}

fn parse_answer(r: &RemotingCommand) -> Option<Answer> {
    let h = r.decode_header::<MasterInfoResponseHeader>().ok()?;
    let body: SyncStateSetBody = serde_json::from_slice(&r.body).unwrap_or_default();
    Some(Answer {
        master_id: h.master_broker_id.and_then(|m| u64::try_from(m).ok()),
        master_addr: h.master_address.filter(|a| !a.is_empty()),
        epoch: h.master_epoch.unwrap_or(0),
        sss: body.sync_state_set.into_iter().collect(),
        sss_epoch: h.sync_state_set_epoch.unwrap_or(body.sync_state_set_epoch),
    })
}

/// The manager's memory between rounds.
struct State<'a> {
    leader: Leader<'a>,
    /// When the last registration the leader answered was *sent*: the lease counts from
    /// there. The leader refreshes this broker's liveness when it receives it, so the
    /// controllers' heartbeat timeout (the same length) cannot run out before the lease does.
    lease_from: Arc<parking_lot::Mutex<Instant>>,
    last_sync: Option<Instant>,
    last_sss_check: Instant,
    /// Per in-sync member: when it was last seen caught up (this master's term).
    caught_up: HashMap<u64, Instant>,
}

/// Run until shutdown (controller mode only).
pub async fn run(b: Arc<Broker>) {
    let cfg = b.ha.config().clone();
    let lease = HaConfig::ms(cfg.controller_heartbeat_timeout);
    let lease_from = Arc::new(parking_lot::Mutex::new(Instant::now()));
    let watch = tokio::spawn(lease_watch(b.clone(), lease_from.clone(), lease));
    let mut st = State {
        leader: Leader::new(&b.client, &cfg),
        lease_from,
        last_sync: None,
        last_sss_check: Instant::now(),
        caught_up: HashMap::new(),
    };
    let tick = HaConfig::ms(cfg.broker_heartbeat_interval)
        .min(HaConfig::ms(cfg.sync_broker_metadata_period))
        .min(HaConfig::ms(cfg.check_sync_state_set_period));
    let mut pushed = false;
    loop {
        if pushed {
            // A controller announced a new master: ask before anything slower.
            sync_role(&b, &mut st).await;
        }
        heartbeat_all(&b, &cfg).await;
        // Also often enough that the lease below never runs out between two registrations.
        let due = st.last_sync.is_none_or(|t| {
            t.elapsed() >= HaConfig::ms(cfg.sync_broker_metadata_period) || t.elapsed() >= lease / 3
        });
        if due || b.ha.view().master_id.is_none() || b.ha.master_unknown() {
            sync_role(&b, &mut st).await;
        }
        if b.ha.role() != BrokerRole::Slave
            && st.last_sss_check.elapsed() >= HaConfig::ms(cfg.check_sync_state_set_period)
        {
            st.last_sss_check = Instant::now();
            maintain_sync_state_set(&b, &mut st).await;
        }
        match b.ha.pause_or_push(tick).await {
            Some(p) => pushed = p,
            None => break,
        }
    }
    watch.abort();
}

/// The lease fence, on its own task so a round stuck on unreachable controllers cannot delay
/// it: a master whose last answered registration was sent more than `lease` ago refuses
/// writes (SEND answers SERVICE_NOT_AVAILABLE) until a controller answers again. By the time
/// the controllers elect another master (after the same timeout without heartbeats) it has
/// stopped acknowledging.
async fn lease_watch(b: Arc<Broker>, from: Arc<parking_lot::Mutex<Instant>>, lease: Duration) {
    loop {
        let until = *from.lock() + lease;
        let now = Instant::now();
        let wait = if now >= until {
            if b.ha.role() != BrokerRole::Slave && b.ha.accepts_writes() {
                tracing::error!(
                    lease_ms = lease.as_millis() as u64,
                    "no controller answered within the lease; refusing writes until one does"
                );
                b.ha.set_fenced(true);
            }
            Duration::from_millis(50)
        } else {
            until - now
        };
        if !b.ha.pause(wait).await {
            return;
        }
    }
}

/// BROKER_HEARTBEAT to every controller (each keeps its own liveness table).
async fn heartbeat_all(b: &Broker, cfg: &HaConfig) {
    let v = b.ha.view();
    let hdr = BrokerHeartbeatToControllerHeader {
        cluster_name: b.cfg.broker_cluster_name.clone(),
        broker_addr: b.cfg.broker_addr(),
        broker_name: b.cfg.broker_name.clone(),
        broker_id: Some(v.my_id as i64),
        epoch: Some(b.ha.epochs.as_ref().map_or(0, |e| e.lock().last_epoch())),
        max_offset: Some(b.store.get_max_phy_offset()),
        confirm_offset: Some(b.ha.confirm_offset()),
        heartbeat_timeout_mills: Some(cfg.controller_heartbeat_timeout as i64),
        election_priority: None,
    };
    let timeout = HaConfig::ms(cfg.send_heartbeat_timeout);
    let calls = cfg.controllers().into_iter().map(|a| {
        let req = RemotingCommand::request_with_header(rq::BROKER_HEARTBEAT, &hdr);
        async move {
            if let Err(e) = b.client.invoke(&a, req, timeout).await {
                drop_if_broken(&b.client, &a, &e);
            }
        }
    });
    futures::future::join_all(calls).await;
}

/// Register with the leader, elect when the group has no live master, apply the answer.
async fn sync_role(b: &Arc<Broker>, st: &mut State<'_>) {
    let me = b.ha.view().my_id;
    let sent = Instant::now();
    let reg = RemotingCommand::request_with_header(
        rq::CONTROLLER_REGISTER_BROKER,
        &RegisterBrokerToControllerRequestHeader {
            cluster_name: b.cfg.broker_cluster_name.clone(),
            broker_name: b.cfg.broker_name.clone(),
            broker_id: me as i64,
            broker_address: b.cfg.broker_addr(),
            invoke_time: Some(now_millis()),
        },
    );
    let r = match st.leader.call(reg).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "controller register failed");
            return;
        }
    };
    if r.code != rc::SUCCESS {
        tracing::warn!(code = r.code, remark = ?r.remark, "controller refused the registration");
        return;
    }
    *st.lease_from.lock() = sent;
    st.last_sync = Some(Instant::now());
    let Some(mut ans) = parse_answer(&r) else { return };
    if ans.master_id.is_none() {
        // No live master: ask for an election (the controller picks the best in-sync
        // replica, maybe not us). Until it answers, a master that thinks it leads does not.
        b.ha.set_fenced(true);
        let req = RemotingCommand::request_with_header(
            rq::CONTROLLER_ELECT_MASTER,
            &ElectMasterRequestHeader {
                cluster_name: Some(b.cfg.broker_cluster_name.clone()),
                broker_name: b.cfg.broker_name.clone(),
                broker_id: Some(me as i64),
                designate_elect: Some(false),
                invoke_time: Some(now_millis()),
            },
        );
        match st.leader.call(req).await {
            Ok(r) => match parse_answer(&r) {
                Some(e) if e.master_id.is_some() => {
                    tracing::info!(code = r.code, master = ?e.master_id, epoch = e.epoch, "election answered");
                    ans = e;
                }
                _ => {
                    tracing::info!(code = r.code, remark = ?r.remark, "no master could be elected yet");
                    return;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "election request failed");
                return;
            }
        }
    }
    apply(b, st, ans).await;
}

/// Take the role an answer gives.
async fn apply(b: &Arc<Broker>, st: &mut State<'_>, a: Answer) {
    let ha = &b.ha;
    let mut v = ha.view();
    if a.epoch < v.master_epoch {
        return; // an older answer than what we already follow
    }
    if a.epoch > v.master_epoch || a.sss_epoch >= v.sync_state_set_epoch {
        v.sync_state_set = a.sss.clone();
        v.sync_state_set_epoch = a.sss_epoch;
    }
    let Some(master) = a.master_id else { return };
    if master == v.my_id {
        let was = ha.role();
        if was == BrokerRole::Slave || a.epoch != v.master_epoch {
            // Stop replicating first: the HA client must not append once puts may.
            ha.set_master_from_controller(None, None);
            let until = Instant::now() + Duration::from_secs(2);
            while ha.client_connected() && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Bytes of a record still arriving (a split record) are not part of this log.
            let max = match b.store.cut_partial_record() {
                Ok(m) => m,
                Err(err) => {
                    tracing::error!(error = %err, "cannot cut a partial record; not taking the master role");
                    return;
                }
            };
            if let Some(e) = &ha.epochs {
                if let Err(err) = e.lock().append(a.epoch, max) {
                    tracing::error!(error = %err, "cannot write the epoch file; not taking the master role");
                    return;
                }
            }
            v.master_id = Some(master);
            v.master_epoch = a.epoch;
            // Before the role change below, which registers with the name servers at once.
            b.topics.set_state_version(i64::from(a.epoch));
            ha.set_view(v.clone());
            ha.set_role(BrokerRole::SyncMaster);
            ha.start_master_term(max);
            st.caught_up = v.sync_state_set.iter().map(|id| (*id, Instant::now())).collect();
            tracing::warn!(epoch = a.epoch, start = max, sss = ?v.sync_state_set, "this broker is now the master of its group");
        } else {
            ha.set_view(v);
        }
        ha.set_fenced(false);
        // Writable now: the timer engine runs on the master only (rebuilt if it does not).
        crate::timer::role::on_master(b);
        return;
    }
    let addr = a.master_addr.clone();
    let same = ha.role() == BrokerRole::Slave
        && v.master_id == Some(master)
        && v.master_epoch == a.epoch
        && ha.master().broker_addr == addr
        && !ha.master_unknown();
    v.master_id = Some(master);
    v.master_epoch = a.epoch;
    if a.epoch != ha.view().master_epoch {
        b.topics.set_state_version(i64::from(a.epoch));
    }
    ha.set_view(v);
    if same {
        return;
    }
    if ha.role() != BrokerRole::Slave {
        tracing::warn!(
            new_master = master,
            epoch = a.epoch,
            "deposed: another broker is master at a newer epoch; now a replica"
        );
    }
    ha.set_role(BrokerRole::Slave);
    // Before the HA client is pointed at the new master: it may truncate the store.
    crate::timer::role::on_replica(b).await;
    ha.update_read_limit();
    let ha_addr = match &addr {
        Some(m) => master_ha_addr(b, m).await,
        None => None,
    };
    tracing::info!(master = master, addr = ?addr, ha = ?ha_addr, epoch = a.epoch, "following the master");
    ha.set_master_from_controller(ha_addr, addr);
}

/// The master's HA address (`brokerIP2:haListenPort`) from its GET_BROKER_CONFIG.
async fn master_ha_addr(b: &Broker, master: &str) -> Option<String> {
    let req = RemotingCommand::request(rq::GET_BROKER_CONFIG);
    let r = b.client.invoke(master, req, Duration::from_secs(2)).await.ok()?;
    if r.code != rc::SUCCESS {
        return None;
    }
    let text = String::from_utf8_lossy(&r.body);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(str::trim)
    };
    let ip = get("brokerIP2")?;
    let port = get("haListenPort")?;
    Some(format!("{ip}:{port}"))
}

/// A master's in-sync set upkeep: members that did not catch up within
/// `haMaxTimeSlaveNotCatchup` leave, connected replicas holding the confirm offset join.
async fn maintain_sync_state_set(b: &Broker, st: &mut State<'_>) {
    let ha = &b.ha;
    if !ha.accepts_writes() {
        return;
    }
    let v = ha.view();
    let me = v.my_id;
    let now = Instant::now();
    let confirm = ha.confirm_offset();
    let links = ha.slaves();
    for l in &links {
        if let Ok(id) = u64::try_from(l.broker_id()) {
            if now.duration_since(*l.caught_up_at.lock()) < Duration::from_millis(500) {
                st.caught_up.insert(id, now);
            }
        }
    }
    let limit = HaConfig::ms(ha.config().max_time_slave_not_catchup);
    let mut set: BTreeSet<u64> = v
        .sync_state_set
        .iter()
        .copied()
        .filter(|id| {
            *id == me || st.caught_up.get(id).is_some_and(|t| now.duration_since(*t) < limit)
        })
        .collect();
    set.insert(me);
    for l in &links {
        if let Ok(id) = u64::try_from(l.broker_id()) {
            // Holding what every member holds, or what this master held one report ago
            // (under continuous sends a replica is never exactly at the end).
            let recent = now.duration_since(*l.caught_up_at.lock()) < Duration::from_millis(500);
            if id != me && (l.acked() >= confirm || (recent && l.acked() >= 0)) {
                set.insert(id);
                st.caught_up.entry(id).or_insert(now);
            }
        }
    }
    let old: BTreeSet<u64> = v.sync_state_set.iter().copied().collect();
    if set == old {
        return;
    }
    let req = RemotingCommand::request_with_header(
        rq::CONTROLLER_ALTER_SYNC_STATE_SET,
        &AlterSyncStateSetRequestHeader {
            broker_name: b.cfg.broker_name.clone(),
            master_broker_id: me as i64,
            master_epoch: v.master_epoch,
            invoke_time: Some(now_millis()),
        },
    )
    .with_body(
        serde_json::to_vec(&SyncStateSetBody {
            sync_state_set: set.clone(),
            sync_state_set_epoch: v.sync_state_set_epoch,
        })
        .unwrap_or_default(),
    );
    match st.leader.call(req).await {
        Ok(r) if r.code == rc::SUCCESS => {
            let epoch = r
                .decode_header::<AlterSyncStateSetResponseHeader>()
                .map_or(v.sync_state_set_epoch + 1, |h| h.new_sync_state_set_epoch);
            tracing::info!(from = ?old, to = ?set, epoch, "in-sync set changed");
            let mut nv = ha.view();
            nv.sync_state_set = set.into_iter().collect();
            nv.sync_state_set_epoch = epoch;
            ha.set_view(nv);
            ha.recheck_waits();
        }
        Ok(r) => {
            tracing::warn!(code = r.code, remark = ?r.remark, "ALTER_SYNC_STATE_SET refused");
            // A stale set epoch or master epoch: learn the current state at once.
            st.last_sync = None;
        }
        Err(e) => tracing::warn!(error = %e, "ALTER_SYNC_STATE_SET failed"),
    }
}
