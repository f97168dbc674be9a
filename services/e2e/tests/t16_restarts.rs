//! Restarts: an observer restarted (SIGTERM + new process) rebuilds its block table and dedupe
//! window from `chat_inbox`; a gateway stopped with SIGTERM closes its sockets with 1001 and a
//! client that moves to the other gateway fills the gap from its last cursor.

use std::time::Duration;

use chat_e2e::{msg_id, serial, wait_until, Cluster, ClusterOpts, DdpClient};
use chat_proto::bodies::{Outgoing, OutgoingMsg, UserRef};
use chat_proto::topics::{CHAT_OUTGOING, PROP_JWT, PROP_RID};
use mq_client::{Message, MessageQueue, Producer};
use serde_json::json;

fn ids(v: &[(serde_json::Value, std::time::Instant)]) -> Vec<String> {
    v.iter().map(|(m, _)| m["_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_restart_rebuilds_blocks_and_dedupe_window() {
    let _g = serial();
    // REBUILD_WINDOW=0: at start the inbox is replayed only from the snapshot's offsets, so the
    // block must come from chat_policy_state.
    let env = vec![("REBUILD_WINDOW".to_string(), "0".to_string())];
    let mut c = Cluster::start(ClusterOpts {
        gateways: 1,
        observers: 1,
        observer_env: env,
        ..Default::default()
    })
    .await;
    let rid = "d_alice_bob";
    let url = c.gw(0).ws_url();
    let a = DdpClient::login(&url, &c.token("alice")).await.unwrap();
    let b = DdpClient::login(&url, &c.token("bob")).await.unwrap();
    a.sub_room(rid).await.unwrap();
    a.call("blockUser", json!([{"rid": rid, "blocked": "bob"}])).await.unwrap();
    let first = msg_id();
    a.send_msg(rid, &first, "before restart").await.unwrap();
    assert_eq!(ids(&a.collect_messages(1, Duration::from_secs(30)).await), vec![first.clone()]);
    assert_eq!(a.call("readMessages", json!([rid])).await.unwrap(), json!(null));

    // Restart the only observer: a new process with empty memory.
    let mut old = c.observers[0].take().unwrap();
    old.proc.term(Duration::from_secs(10));
    c.observers[0] = Some(c.spawn_observer(0).await);

    // The block survived: bob's message is still dropped.
    b.send_msg(rid, &msg_id(), "still blocked?").await.unwrap();
    // The dedupe window survived: a re-publish of `first` (valid token, same _id) is dropped.
    let producer = Producer::builder()
        .namesrv_addr(&c.namesrv_addr)
        .group("pg_e2e_replay")
        .start()
        .await
        .unwrap();
    let body = Outgoing::Msg(OutgoingMsg {
        v: 1,
        id: first.clone(),
        rid: rid.into(),
        msg: "before restart".into(),
        tmid: None,
        u: UserRef { id: "alice".into(), username: "alice".into() },
        gw: "replay".into(),
        conn: "r".into(),
        recv_ts: 0,
    });
    let mut m = Message::new(CHAT_OUTGOING, serde_json::to_vec(&body).unwrap());
    m.set_tags("msg");
    m.put_property(PROP_JWT, c.token("alice"));
    m.put_property(PROP_RID, rid);
    let select = |qs: &[MessageQueue], arg: &str| {
        let want = chat_proto::ids::shard(arg, qs.len()) as i32;
        qs.iter().find(|q| q.queue_id == want).unwrap().clone()
    };
    producer.send_with_selector(m, &select, rid).await.unwrap();
    producer.shutdown().await;
    let sentinel = msg_id();
    a.send_msg(rid, &sentinel, "sentinel").await.unwrap();
    assert_eq!(ids(&a.collect_messages(1, Duration::from_secs(60)).await), vec![sentinel]);
    let obs = c.observers[0].as_ref().unwrap();
    assert_eq!(
        obs.metric("chat_policy_restored_blocks"),
        1,
        "block table restored from chat_policy_state"
    );
    assert_eq!(
        obs.metric("chat_observer_dropped_total{reason=\"blocked\"}"),
        1,
        "the restored block is enforced"
    );
    assert_eq!(
        obs.metric("chat_dedupe_hits_total{layer=\"observer\"}"),
        1,
        "dedupe window rebuilt from chat_inbox"
    );
    let stored = c.inbox_by_key(&first).await;
    assert_eq!(stored.iter().filter(|m| m.keys().contains(&first.as_str())).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sigterm_then_gap_fill_on_the_other_gateway() {
    let _g = serial();
    let mut c =
        Cluster::start(ClusterOpts { gateways: 2, observers: 1, ..Default::default() }).await;
    let rid = "r_lobby";
    let a = DdpClient::login(&c.gw(0).ws_url(), &c.token("alice")).await.unwrap();
    let b = DdpClient::login(&c.gw(1).ws_url(), &c.token("bob")).await.unwrap();
    b.sub_room(rid).await.unwrap();
    let m1 = msg_id();
    a.send_msg(rid, &m1, "one").await.unwrap();
    let got = b.collect_messages(1, Duration::from_secs(30)).await;
    let cursor = got[0].0["_cursor"].as_str().unwrap().to_string();

    // Bob's gateway stops gracefully: close code 1001.
    let mut gw1 = c.gateways[1].take().unwrap();
    gw1.proc.term(Duration::from_secs(10));
    wait_until("bob's socket closed", Duration::from_secs(10), || async {
        b.close_code().is_some()
    })
    .await;
    assert_eq!(b.close_code(), Some(1001));

    // Meanwhile alice keeps talking.
    let later: Vec<String> = (0..5).map(|_| msg_id()).collect();
    for (i, id) in later.iter().enumerate() {
        a.send_msg(rid, id, &format!("later {i}")).await.unwrap();
    }
    // Bob reconnects to the surviving gateway and fills the gap from his last cursor.
    let b2 = DdpClient::login(&c.gw(0).ws_url(), &c.token("bob")).await.unwrap();
    b2.sub_room(rid).await.unwrap();
    let mut missed = Vec::new();
    for _ in 0..100 {
        let v = b2.call("loadMissedMessages", json!([rid, cursor])).await.unwrap();
        missed =
            v.as_array().unwrap().iter().map(|m| m["_id"].as_str().unwrap().to_string()).collect();
        if missed.len() >= later.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(missed, later);
    // A cursor from another queue layout is refused.
    assert_eq!(
        b2.call("loadMissedMessages", json!([rid, "4/0/1"])).await.unwrap_err()["error"],
        409
    );
}
