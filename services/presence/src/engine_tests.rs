//! Unit tests of the presence engine: reaper, leases, warm-up, epochs, outage grace (T11 part 2).

use super::*;
use chat_proto::presence_bodies::{BatchBody, ConnEvent};

const TTL: u64 = 10_000;
const SYNC: u64 = 1_000;

fn engine() -> Engine {
    Engine::new(EngineCfg {
        instance: "p1".into(),
        epoch: "0001".into(),
        sync_interval_ms: SYNC,
        lease_misses: 3,
        cache_ttl_ms: TTL,
        reaper_batch: 500,
        queues: 1,
    })
}

/// An engine owning queue 0, past its warm-up.
fn warm() -> Engine {
    let mut e = engine();
    e.restore(0, None, 0);
    assert!(events(&e.tick(3_001)).is_empty());
    e
}

fn conn(id: &str, uid: &str, status: Status) -> ConnInfo {
    ConnInfo { id: id.into(), uid: uid.into(), username: uid.into(), status }
}

fn open(gw: &str, epoch: &str, seq: u64, c: ConnInfo) -> Heartbeat {
    Heartbeat::Open(ConnEvent { v: 1, gw: gw.into(), epoch: epoch.into(), seq, conn: c })
}

fn batch(gw: &str, epoch: &str, seq: u64, conns: Vec<ConnInfo>) -> Heartbeat {
    Heartbeat::Batch(BatchBody {
        v: 1,
        gw: gw.into(),
        epoch: epoch.into(),
        seq,
        queue: 0,
        interval_ms: SYNC,
        conns,
    })
}

fn events(out: &[Out]) -> Vec<(String, Status)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Event(_, e) => Some((e.uid.clone(), e.status)),
            _ => None,
        })
        .collect()
}

#[test]
fn open_close_publish_only_on_change() {
    let mut e = warm();
    let t = 4_000;
    assert_eq!(
        events(&e.apply(0, &open("g1", "e1", 1, conn("c1", "alice", Status::Online)), t, 0)),
        vec![("alice".into(), Status::Online)]
    );
    // A second connection does not change the status: no event.
    assert!(events(&e.apply(0, &open("g1", "e1", 2, conn("c2", "alice", Status::Away)), t, 0))
        .is_empty());
    // Duplicate (same seq) is ignored.
    assert!(e.apply(0, &open("g1", "e1", 2, conn("c3", "alice", Status::Away)), t, 0).is_empty());
    let close = |seq, id: &str| {
        Heartbeat::Close(ConnEvent {
            v: 1,
            gw: "g1".into(),
            epoch: "e1".into(),
            seq,
            conn: conn(id, "alice", Status::Online),
        })
    };
    assert_eq!(events(&e.apply(0, &close(3, "c1"), t, 0)), vec![("alice".into(), Status::Away)]);
    assert_eq!(events(&e.apply(0, &close(4, "c2"), t, 0)), vec![("alice".into(), Status::Offline)]);
}

#[test]
fn reaper_drops_stale_keeps_fresh_and_offline_only_without_valid_conns() {
    // A lease far longer than the TTL, so only the TTL reaper acts (it catches connections a
    // live gateway leaked, e.g. events without batches).
    let mut e = Engine::new(EngineCfg {
        instance: "p1".into(),
        epoch: "0001".into(),
        sync_interval_ms: SYNC,
        lease_misses: 1000,
        cache_ttl_ms: TTL,
        reaper_batch: 500,
        queues: 1,
    });
    e.restore(0, None, 0);
    assert!(events(&e.tick(1_000_001)).is_empty());
    let t0 = 1_000_100;
    e.apply(0, &open("g1", "e1", 1, conn("old", "bob", Status::Online)), t0, 0);
    e.apply(0, &open("g1", "e1", 2, conn("old", "carol", Status::Online)), t0, 0);
    // carol also has a fresh connection on another gateway.
    e.apply(0, &open("g2", "e1", 1, conn("new", "carol", Status::Away)), t0 + TTL - 100, 0);
    // A heartbeat from the backlog (older than the TTL) renews nothing.
    e.apply(0, &open("g1", "e1", 3, conn("old", "bob", Status::Online)), t0 + TTL - 50, TTL + 1);
    let out = e.tick(t0 + TTL + 1);
    let mut got = events(&out);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, vec![("bob".into(), Status::Offline), ("carol".into(), Status::Away)]);
    assert_eq!(e.reaped.get(&Reason::Ttl), Some(&2));
    let carol = e.user("carol", 0).unwrap();
    assert_eq!(
        (carol.connections.len(), carol.status),
        (1, Status::Away),
        "carol keeps her fresh connection"
    );
    // The fresh one goes too once it is stale itself.
    assert_eq!(events(&e.tick(t0 + 2 * TTL)), vec![("carol".into(), Status::Offline)]);
}

#[test]
fn gateway_lease_drops_only_that_gateways_connections() {
    let mut e = warm();
    let mut t = 4_000;
    e.apply(0, &open("g1", "e1", 1, conn("a1", "alice", Status::Online)), t, 0);
    e.apply(0, &open("g2", "e1", 1, conn("b2", "bob", Status::Online)), t, 0);
    e.apply(0, &open("g1", "e1", 2, conn("b1", "bob", Status::Online)), t, 0);
    // g1 keeps batching, g2 dies.
    let mut seq = 3;
    let mut offline = Vec::new();
    while t < 10_000 {
        t += SYNC;
        e.apply(
            0,
            &batch(
                "g1",
                "e1",
                seq,
                vec![conn("a1", "alice", Status::Online), conn("b1", "bob", Status::Online)],
            ),
            t,
            0,
        );
        seq += 1;
        offline.extend(events(&e.tick(t)));
    }
    assert!(offline.is_empty(), "bob is still on g1, alice only on g1: {offline:?}");
    assert_eq!(e.reaped.get(&Reason::GatewayLease), Some(&1));
    assert_eq!(e.gateways(t).len(), 1);
}

#[test]
fn batch_reconciles_lost_close_events() {
    let mut e = warm();
    e.apply(0, &open("g1", "e1", 1, conn("c1", "alice", Status::Online)), 4_000, 0);
    let out = e.apply(0, &batch("g1", "e1", 2, vec![]), 5_000, 0);
    assert_eq!(events(&out), vec![("alice".into(), Status::Offline)]);
    assert_eq!(e.reaped.get(&Reason::Reconcile), Some(&1));
}

#[test]
fn new_epoch_purges_old_connections_and_old_epoch_is_ignored() {
    let mut e = warm();
    e.apply(0, &open("g1", "0001", 1, conn("c1", "alice", Status::Online)), 4_000, 0);
    e.apply(0, &open("g1", "0001", 2, conn("c2", "bob", Status::Online)), 4_000, 0);
    // The gateway restarted; alice reconnected before its first batch.
    assert!(e
        .apply(0, &open("g1", "0002", 1, conn("c9", "alice", Status::Online)), 5_000, 0)
        .is_empty());
    let out =
        e.apply(0, &batch("g1", "0002", 2, vec![conn("c9", "alice", Status::Online)]), 5_500, 0);
    assert_eq!(events(&out), vec![("bob".into(), Status::Offline)], "alice stays online, no flap");
    assert_eq!(e.reaped.get(&Reason::Epoch), Some(&2));
    assert!(e
        .apply(0, &open("g1", "0001", 3, conn("c3", "carol", Status::Online)), 5_000, 0)
        .is_empty());
}

#[test]
fn manual_default_is_published_and_snapshotted() {
    let mut e = warm();
    e.apply(0, &open("g1", "e1", 1, conn("c1", "x", Status::Online)), 4_000, 0);
    let d = Heartbeat::DefaultStatus(DefaultStatusBody {
        v: 1,
        uid: "x".into(),
        username: "x".into(),
        status_default: Status::Busy,
        status_text: "call".into(),
        gw: "g1".into(),
    });
    let out = e.apply(0, &d, 4_100, 0);
    assert_eq!(events(&out), vec![("x".into(), Status::Busy)]);
    let Some(Out::State(0, s)) = out.last() else { panic!("state written synchronously") };
    assert_eq!(s.users["x"].status, Status::Busy);
    // Restore on another engine: busy survives, and warm-up publishes nothing.
    let mut r = engine();
    r.restore(0, Some(s), 0);
    assert!(r.apply(0, &open("g1", "e1", 1, conn("c1", "x", Status::Online)), 100, 0).is_empty());
    assert!(events(&r.tick(3_001)).is_empty(), "x is still busy after warm-up");
    assert_eq!(r.user("x", 0).unwrap().status, Status::Busy);
}

#[test]
fn restart_warmup_emits_no_false_offline() {
    let mut e = warm();
    e.apply(0, &open("g1", "e1", 1, conn("c1", "alice", Status::Online)), 4_000, 0);
    e.apply(0, &open("g1", "e1", 2, conn("c2", "bob", Status::Online)), 4_000, 0);
    let snap = e.snapshot(0);
    let mut r = engine();
    r.restore(0, Some(&snap), 10_000);
    // During warm-up only alice's connection is reported; bob really left.
    assert!(r
        .apply(0, &batch("g1", "e1", 3, vec![conn("c1", "alice", Status::Online)]), 10_500, 0)
        .is_empty());
    assert!(events(&r.tick(11_000)).is_empty());
    assert_eq!(events(&r.tick(13_001)), vec![("bob".into(), Status::Offline)]);
}

#[test]
fn outage_grace_never_mass_offlines() {
    let mut e = warm();
    e.apply(0, &open("g1", "e1", 1, conn("c1", "alice", Status::Online)), 4_000, 0);
    e.set_blind(true, 4_500);
    assert!(e.tick(60_000).is_empty(), "blind: no reaping");
    e.set_blind(false, 60_000);
    assert!(events(&e.tick(61_000)).is_empty(), "leases restarted at recovery");
    e.apply(0, &batch("g1", "e1", 2, vec![conn("c1", "alice", Status::Online)]), 62_000, 0);
    assert!(events(&e.tick(64_000)).is_empty());
}
