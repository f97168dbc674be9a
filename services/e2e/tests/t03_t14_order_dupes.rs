//! T3 (per-conversation order under concurrency: every reader of a room sees the same sequence
//! and each sender's messages keep their send order) and T14 (injected duplicates on
//! `chat_outgoing` and `chat_inbox` are never shown).

use std::collections::HashMap;
use std::time::Duration;

use chat_e2e::{msg_id, scaled, serial, Cluster, ClusterOpts, DdpClient};
use chat_proto::bodies::{Outgoing, OutgoingMsg, UserRef};
use chat_proto::topics::{conversation_key, CHAT_INBOX, CHAT_OUTGOING, PROP_JWT, PROP_RID};
use mq_client::{Message, MessageQueue, Producer};

fn by_shard(qs: &[MessageQueue], arg: &str) -> MessageQueue {
    let want = chat_proto::ids::shard(arg, qs.len()) as i32;
    qs.iter().find(|q| q.queue_id == want).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t03_per_conversation_order() {
    let _g = serial();
    let c = Cluster::start(ClusterOpts::default()).await;
    let rooms = scaled(50, 2);
    let per_sender = scaled(50, 5);
    let senders = 4;
    let room = |r: usize| format!("r_t3-{r}");
    // Readers: two per gateway, each subscribed to every room.
    let mut readers = Vec::new();
    for i in 0..4 {
        let r =
            DdpClient::login(&c.gw(i % 2).ws_url(), &c.token(&format!("reader{i}"))).await.unwrap();
        for k in 0..rooms {
            r.sub_room(&room(k)).await.unwrap();
        }
        readers.push(r);
    }
    // Sender k of room r is user s<k>, connected to gateway (r + k) % 2: 8 connections.
    let mut conns = HashMap::new();
    for k in 0..senders {
        for g in 0..2 {
            conns.insert(
                (k, g),
                DdpClient::login(&c.gw(g).ws_url(), &c.token(&format!("s{k}"))).await.unwrap(),
            );
        }
    }
    let started = std::time::Instant::now();
    futures::future::join_all(conns.iter().map(|((k, g), cl)| {
        let my_rooms: Vec<usize> = (0..rooms).filter(|r| (r + k) % 2 == *g).collect();
        async move {
            for j in 0..per_sender {
                for r in &my_rooms {
                    cl.send_msg(&room(*r), &msg_id(), &format!("{k}:{j}")).await.unwrap();
                }
            }
        }
    }))
    .await;
    let total = rooms * senders * per_sender;
    println!("T3: sent {total} messages in {:?}", started.elapsed());
    let mut sequences: Vec<HashMap<String, Vec<String>>> = Vec::new();
    for r in &readers {
        let got = r.collect_messages(total, Duration::from_secs(180)).await;
        assert_eq!(got.len(), total, "each reader gets every message exactly once");
        let mut per_room: HashMap<String, Vec<String>> = HashMap::new();
        for (m, _) in got {
            per_room
                .entry(m["rid"].as_str().unwrap().to_string())
                .or_default()
                .push(m["msg"].as_str().unwrap().to_string());
        }
        sequences.push(per_room);
    }
    for k in 0..rooms {
        let rid = room(k);
        let first = &sequences[0][&rid];
        for s in &sequences[1..] {
            assert_eq!(&s[&rid], first, "every reader sees the same sequence in {rid}");
        }
        for sender in 0..senders {
            let seq: Vec<usize> = first
                .iter()
                .filter_map(|t| t.split_once(':'))
                .filter(|(s, _)| *s == sender.to_string())
                .map(|(_, j)| j.parse().unwrap())
                .collect();
            assert_eq!(
                seq,
                (0..per_sender).collect::<Vec<_>>(),
                "sender {sender} keeps its order in {rid}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t14_injected_duplicates_never_shown() {
    let _g = serial();
    let c = Cluster::start(ClusterOpts::default()).await;
    let rid = "d_alice_bob";
    let token = c.token("alice");
    let b = DdpClient::login(&c.gw(1).ws_url(), &c.token("bob")).await.unwrap();
    b.sub_room(rid).await.unwrap();
    let producer = Producer::builder()
        .namesrv_addr(&c.namesrv_addr)
        .group("pg_e2e_dup")
        .start()
        .await
        .unwrap();

    // 1. chat_outgoing: publish 100 valid messages as the gateway would, 10 % of them twice.
    let n = 100;
    let mut ids = Vec::new();
    for i in 0..n {
        let id = msg_id();
        let body = Outgoing::Msg(OutgoingMsg {
            v: 1,
            id: id.clone(),
            rid: rid.into(),
            msg: format!("m{i}"),
            tmid: None,
            u: UserRef { id: "alice".into(), username: "alice".into() },
            gw: "harness".into(),
            conn: "h".into(),
            recv_ts: mq_common::protocol::now_millis(),
        });
        let times = if i % 10 == 0 { 2 } else { 1 };
        for _ in 0..times {
            let mut m = Message::new(CHAT_OUTGOING, serde_json::to_vec(&body).unwrap());
            m.set_tags("msg");
            m.set_keys([id.clone(), conversation_key(rid)]);
            m.put_property(PROP_JWT, token.clone());
            m.put_property(PROP_RID, rid);
            producer.send_with_selector(m, &by_shard, rid).await.unwrap();
        }
        ids.push(id);
    }
    let got = b.collect_messages(n, Duration::from_secs(60)).await;
    let got_ids: Vec<String> =
        got.iter().map(|(m, _)| m["_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got_ids, ids, "100 unique messages in order, no raw duplicate");
    let observer_hits: i64 = c
        .observers
        .iter()
        .flatten()
        .map(|o| o.metric("chat_dedupe_hits_total{layer=\"observer\"}"))
        .sum();
    assert!(observer_hits >= 10, "observer dedupe hits: {observer_hits}");

    // 2. chat_inbox: republish 10 stored events verbatim on their own queue.
    let stored = c.inbox_by_key(&conversation_key(rid)).await;
    let mut republished = 0;
    for m in stored.iter().filter(|m| m.tags() == Some("msg")).take(10) {
        let mut dup = Message::new(CHAT_INBOX, m.body.clone());
        for (k, v) in &m.properties {
            if k != "UNIQ_KEY" && k != "MIN_OFFSET" && k != "MAX_OFFSET" {
                dup.put_property(k.clone(), v.clone());
            }
        }
        producer.send_with_selector(dup, &by_shard, rid).await.unwrap();
        republished += 1;
    }
    assert_eq!(republished, 10);
    // A sentinel behind the duplicates on the same queue.
    let a = DdpClient::login(&c.gw(0).ws_url(), &token).await.unwrap();
    let sentinel = msg_id();
    a.send_msg(rid, &sentinel, "sentinel").await.unwrap();
    let got = b.collect_messages(1, Duration::from_secs(30)).await;
    let got_ids: Vec<String> =
        got.iter().map(|(m, _)| m["_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got_ids, vec![sentinel], "no inbox duplicate reached bob");
    assert!(c.gw(1).metric("chat_dedupe_hits_total{layer=\"gateway\"}") >= 10);
    producer.shutdown().await;
}
