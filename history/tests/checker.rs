//! The checker on synthetic histories: valid ones pass, and each kind of violation planted
//! into one is caught (a checker that cannot fail proves nothing).

use std::collections::BTreeMap;

use mq_history::{body_hash, check, Event, Kind, Problem, Via};
use proptest::prelude::*;

/// What became of one generated send.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Acked,
    /// `info`, stored anyway (e.g. FLUSH_SLAVE_TIMEOUT).
    UnknownStored,
    /// `info`, never stored (e.g. a timeout before the broker got it).
    UnknownLost,
    Failed,
}

/// A valid history: sends in time order, stored ones at the next offset of their queue, a
/// fault window in the middle, and a final read-back of every stored message from
/// `replicas` replicas of its group.
fn history(sends: &[(Outcome, usize, i32)], replicas: usize) -> Vec<Event> {
    let mut ev = Vec::new();
    let mut next: BTreeMap<(usize, i32), i64> = BTreeMap::new();
    let mut stored = Vec::new();
    let fault_at = sends.len() as i64 * 5;
    for (i, &(out, b, q)) in sends.iter().enumerate() {
        let t = i as i64 * 10;
        let (key, body) = (format!("c-{i}"), format!("body-{i}"));
        let (h, broker) = (body_hash(body.as_bytes()), format!("broker-{b}"));
        ev.push(Event::new(Kind::Invoke, "c").at(t).msg(&key, &h));
        let stores = matches!(out, Outcome::Acked | Outcome::UnknownStored);
        let off = if stores {
            let o = next.entry((b, q)).or_default();
            *o += 1;
            stored.push((key.clone(), h.clone(), broker.clone(), q, *o - 1));
            *o - 1
        } else {
            -1
        };
        let done = match out {
            Outcome::Acked => Event::new(Kind::Ok, "c").pos("T", &broker, q, off),
            Outcome::UnknownStored | Outcome::UnknownLost => Event::new(Kind::Info, "c"),
            Outcome::Failed => Event::new(Kind::Fail, "c"),
        };
        ev.push(done.at(t + 3).msg(&key, &h));
    }
    for (phase, t) in [("start", fault_at), ("end", fault_at + 40)] {
        let mut f = Event::new(Kind::Fault, "schedule").at(t);
        (f.fault, f.target, f.phase) =
            (Some("kill".into()), Some("master".into()), Some(phase.into()));
        ev.push(f);
    }
    let end = sends.len() as i64 * 10 + 100;
    for (key, h, broker, q, off) in stored {
        for r in 0..replicas {
            let mut e =
                Event::new(Kind::Recv, "readback").at(end).msg(&key, &h).pos("T", &broker, q, off);
            e.via = Some(Via::Final);
            e.addr = Some(format!("127.0.0.{}:1", 10 + r));
            ev.push(e);
        }
    }
    ev
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        6 => Just(Outcome::Acked),
        1 => Just(Outcome::UnknownStored),
        1 => Just(Outcome::UnknownLost),
        1 => Just(Outcome::Failed),
    ]
}

fn sends() -> impl Strategy<Value = Vec<(Outcome, usize, i32)>> {
    prop::collection::vec((outcome(), 0..2usize, 0..4i32), 1..80)
}

/// Indices of `ev` for which `f` holds.
fn where_(ev: &[Event], f: impl Fn(&Event) -> bool) -> Vec<usize> {
    ev.iter().enumerate().filter(|(_, e)| f(e)).map(|(i, _)| i).collect()
}

proptest! {
    #[test]
    fn valid_histories_pass(s in sends(), replicas in 1..3usize) {
        let r = check(history(&s, replicas));
        prop_assert!(r.valid(), "{}", r.render());
        prop_assert_eq!(r.count(Problem::Duplicate), 0);
    }

    #[test]
    fn a_lost_ack_is_caught(s in sends(), replicas in 1..3usize, pick in any::<prop::sample::Index>()) {
        let mut ev = history(&s, replicas);
        let acked = where_(&ev, |e| e.kind == Kind::Ok);
        prop_assume!(!acked.is_empty());
        let key = ev[acked[pick.index(acked.len())]].key.clone();
        ev.retain(|e| !(e.kind == Kind::Recv && e.key == key));
        let r = check(ev);
        prop_assert!(!r.valid());
        // One finding for that key (plus "no read-back at all" if it was the only message).
        let mine: Vec<_> = r.findings.iter().filter(|f| f.problem == Problem::LostAck
            && f.timeline.iter().any(|e| e.kind == Kind::Invoke && e.key == key)).collect();
        prop_assert_eq!(mine.len(), 1, "{}", r.render());
    }

    #[test]
    fn a_rewritten_offset_is_caught(s in sends(), replicas in 1..3usize, pick in any::<prop::sample::Index>()) {
        let mut ev = history(&s, replicas);
        let acked: Vec<Option<String>> =
            ev.iter().filter(|e| e.kind == Kind::Ok).map(|e| e.key.clone()).collect();
        let recvs = where_(&ev, |e| e.kind == Kind::Recv && acked.contains(&e.key));
        prop_assume!(!recvs.is_empty());
        // One replica now holds another message at an acknowledged offset.
        let i = recvs[pick.index(recvs.len())];
        ev[i].key = Some("intruder".into());
        ev[i].hash = Some(body_hash(b"intruder"));
        let r = check(ev);
        prop_assert!(!r.valid());
        prop_assert_eq!(r.count(Problem::Conflict), 1, "{}", r.render());
    }

    #[test]
    fn a_duplicate_is_reported_not_failed(s in sends(), pick in any::<prop::sample::Index>()) {
        let mut ev = history(&s, 1);
        let recvs = where_(&ev, |e| e.kind == Kind::Recv);
        prop_assume!(!recvs.is_empty());
        let mut dup = ev[recvs[pick.index(recvs.len())]].clone();
        dup.offset = Some(1_000_000);
        ev.push(dup);
        let r = check(ev);
        prop_assert_eq!(r.count(Problem::Duplicate), 1, "{}", r.render());
        prop_assert!(r.valid(), "{}", r.render());
    }
}

#[test]
fn findings_show_the_faults_in_force_and_around() {
    let s = [(Outcome::Acked, 0, 0); 10];
    let mut ev = history(&s, 2);
    // c-5 is acknowledged inside the kill window (50..90).
    ev.retain(|e| !(e.kind == Kind::Recv && e.key.as_deref() == Some("c-5")));
    let r = check(ev);
    assert_eq!(r.count(Problem::LostAck), 1);
    let f = &r.findings[0];
    assert_eq!(f.faults_in_force, vec!["kill master".to_string()]);
    assert!(f.timeline.iter().any(|e| e.kind == Kind::Fault), "{}", r.render());
    let text = r.render();
    assert!(text.starts_with("INVALID"), "{text}");
    assert!(text.contains("start kill master"), "{text}");
}

#[test]
fn an_ack_at_the_wrong_offset_and_a_phantom_are_caught() {
    let s = [(Outcome::Acked, 0, 0), (Outcome::Failed, 0, 1)];
    let mut ev = history(&s, 1);
    let ok = ev.iter_mut().find(|e| e.kind == Kind::Ok).unwrap();
    ok.offset = Some(7);
    let failed = ev.iter().find(|e| e.kind == Kind::Fail).unwrap().clone();
    let mut ghost = Event::new(Kind::Recv, "readback").at(500).pos("T", "broker-0", 1, 0);
    (ghost.key, ghost.hash, ghost.via) = (failed.key, failed.hash, Some(Via::Final));
    ev.push(ghost);
    let r = check(ev);
    assert_eq!(r.count(Problem::MovedAck), 1, "{}", r.render());
    assert_eq!(r.count(Problem::Phantom), 1, "{}", r.render());
}

#[test]
fn a_corrupt_body_and_a_missing_read_back_are_caught() {
    let mut ev = history(&[(Outcome::Acked, 0, 0)], 1);
    ev.iter_mut().find(|e| e.kind == Kind::Recv).unwrap().hash = Some("0000".into());
    assert_eq!(check(ev).count(Problem::Corrupt), 1);
    let ev: Vec<Event> = history(&[(Outcome::Acked, 0, 0)], 1)
        .into_iter()
        .filter(|e| e.kind != Kind::Recv)
        .collect();
    let r = check(ev);
    assert!(!r.valid(), "no final read-back cannot pass");
}

#[test]
fn unreadable_lines_are_errors_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.jsonl");
    let good = Event::new(Kind::Invoke, "c").msg("k", "h").to_line();
    std::fs::write(&p, format!("{good}\n\n{{\"t\":1,\"type\":\"bogus\"}}\n")).unwrap();
    let e = mq_history::load(&[&p]).unwrap_err().to_string();
    assert!(e.contains("h.jsonl:3"), "{e}");
    assert!(mq_history::load(&[dir.path().join("absent")]).is_err());
}

#[test]
fn a_replica_missing_an_earlier_ack_is_caught() {
    let s = [(Outcome::Acked, 0, 0), (Outcome::Acked, 0, 1)];
    let mut ev = history(&s, 1);
    // A pass over the slave at t=8 (both acks were answered at t=3 and t=13): it must hold
    // c-0, and need not hold c-1, acknowledged after it began.
    let mut open = Event::new(Kind::Read, "readback").at(8).pos("T", "broker-0", 0, 0);
    (open.pass, open.addr, open.via) = (Some("s@8".into()), Some("s".into()), Some(Via::Readback));
    ev.push(open.clone());
    assert_eq!(check(ev.clone()).count(Problem::LostAck), 1, "the pass is empty");
    let mut got = ev.iter().find(|e| e.kind == Kind::Recv).unwrap().clone();
    (got.pass, got.via, got.t) = (Some("s@8".into()), Some(Via::Readback), 9);
    ev.push(got);
    let r = check(ev);
    assert!(r.valid(), "{}", r.render());
}

#[test]
fn a_lagging_replica_may_miss_acks_but_not_disagree() {
    let s = [(Outcome::Acked, 0, 0), (Outcome::Acked, 0, 1)];
    let mut ev = history(&s, 1);
    // An ASYNC_MASTER's slave read at t=20, after both acks, holding neither: allowed.
    let mut open = Event::new(Kind::Read, "readback").at(20).pos("T", "broker-0", 0, 0);
    (open.pass, open.addr, open.via) = (Some("s@20".into()), Some("s".into()), Some(Via::Lagging));
    ev.push(open);
    let r = check(ev.clone());
    assert!(r.valid(), "{}", r.render());
    // ... but what it holds must agree: another message at c-0's offset is a conflict.
    let mut other = ev.iter().find(|e| e.kind == Kind::Recv).unwrap().clone();
    (other.key, other.hash) = (Some("stranger".into()), Some("0000".into()));
    (other.pass, other.via, other.t) = (Some("s@20".into()), Some(Via::Lagging), 21);
    ev.push(other);
    assert_eq!(check(ev).count(Problem::Conflict), 1);
}
