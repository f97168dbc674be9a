//! T7 (a blocked sender's messages never reach the inbox) and T8 (authorization: tokens,
//! foreign rooms and streams, direct publishes to `chat_outgoing` without a valid token).

use std::time::Duration;

use chat_e2e::{msg_id, serial, Cluster, ClusterOpts, DdpClient};
use chat_proto::bodies::{Outgoing, OutgoingMsg, UserRef};
use chat_proto::jwt::{self, Claims};
use chat_proto::topics::{conversation_key, CHAT_OUTGOING, PROP_JWT, PROP_RID};
use mq_client::{Message, MessageQueue, Producer};
use serde_json::json;

fn ids_of(msgs: &[(serde_json::Value, std::time::Instant)]) -> Vec<String> {
    msgs.iter().map(|(m, _)| m["_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t07_blocked_sender_never_reaches_inbox() {
    let _g = serial();
    let c = Cluster::start(ClusterOpts::default()).await;
    let rid = "d_alice_bob";
    let a = DdpClient::login(&c.gw(0).ws_url(), &c.token("alice")).await.unwrap();
    let b = DdpClient::login(&c.gw(1).ws_url(), &c.token("bob")).await.unwrap();
    a.sub_room(rid).await.unwrap();
    b.sub("stream-notify-user", json!(["bob/rooms-changed", false])).await.unwrap();

    assert_eq!(
        a.call("blockUser", json!([{"rid": rid, "blocked": "bob"}])).await.unwrap(),
        json!(true)
    );
    // Only a party may block, and only the other party.
    assert_eq!(
        a.call("blockUser", json!([{"rid": rid, "blocked": "carol"}])).await.unwrap_err()["error"],
        403
    );
    let n = 100;
    let mut blocked_ids = Vec::new();
    for i in 0..n {
        let id = msg_id();
        // Accepted by the gateway (SEND_OK), dropped by the observer.
        b.send_msg(rid, &id, &format!("spam {i}")).await.unwrap();
        blocked_ids.push(id);
    }
    let sentinel = msg_id();
    a.send_msg(rid, &sentinel, "sentinel").await.unwrap();
    // The sentinel travels the same ordered queue: once it is echoed, all 100 were processed.
    let got = a.collect_messages(1, Duration::from_secs(30)).await;
    assert_eq!(ids_of(&got), vec![sentinel.clone()], "alice sees only her sentinel");
    let stored = c.inbox_by_key(&conversation_key(rid)).await;
    assert!(
        stored.iter().all(|m| !blocked_ids.iter().any(|id| m.keys().contains(&id.as_str()))),
        "no blocked message in chat_inbox"
    );
    let dropped: i64 = c
        .observers
        .iter()
        .flatten()
        .map(|o| o.metric("chat_observer_dropped_total{reason=\"blocked\"}"))
        .sum();
    assert_eq!(dropped, n as i64);
    // Bob was told the room changed.
    let ev = b.next_event(Duration::from_secs(10)).await.expect("rooms-changed event");
    assert_eq!(ev.event_name, "bob/rooms-changed");
    // History cannot leak them either.
    let h = a.call("loadHistory", json!([rid, null, 200])).await.unwrap();
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);

    assert_eq!(
        a.call("unblockUser", json!([{"rid": rid, "blocked": "bob"}])).await.unwrap(),
        json!(true)
    );
    let after = msg_id();
    b.send_msg(rid, &after, "hello again").await.unwrap();
    let got = a.collect_messages(1, Duration::from_secs(30)).await;
    assert_eq!(ids_of(&got), vec![after]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t08_authorization() {
    let _g = serial();
    let env = vec![("TOKEN_CHECK_INTERVAL".to_string(), "0.5".to_string())];
    let c = Cluster::start(ClusterOpts {
        gateways: 1,
        observers: 1,
        gateway_env: env,
        ..Default::default()
    })
    .await;
    let url = c.gw(0).ws_url();
    let now = mq_common::protocol::now_millis() / 1000;

    // A token that expires while connected closes the socket with 4001.
    let short = DdpClient::login(&url, &c.token_with("erin", Claims::default_user_scopes(), 4))
        .await
        .unwrap();
    chat_e2e::wait_until("expired session closed", Duration::from_secs(20), || async {
        short.close_code().is_some()
    })
    .await;
    assert_eq!(short.close_code(), Some(4001));

    // Token checks at login.
    let anon = DdpClient::connect(&url).await.unwrap();
    assert_eq!(
        anon.call("sendMessage", json!([{"_id": msg_id(), "rid": "r_general", "msg": "x"}]))
            .await
            .unwrap_err()["error"],
        401
    );
    let forged = jwt::sign(
        &Claims::new("alice", "chat", now, 3600, Claims::default_user_scopes()),
        b"wrong-key",
    );
    let expired = c.token_with("alice", Claims::default_user_scopes(), -10);
    let wrong_aud = jwt::sign(
        &Claims::new("alice", "other", now, 3600, Claims::default_user_scopes()),
        chat_e2e::cluster::SECRET.as_bytes(),
    );
    for (t, reason) in [
        (forged.as_str(), "invalid-token"),
        (expired.as_str(), "token-expired"),
        (wrong_aud.as_str(), "invalid-token"),
        ("garbage", "invalid-token"),
    ] {
        let e = anon.call("login", json!([{"resume": t}])).await.unwrap_err();
        assert_eq!(e["error"], 403);
        assert_eq!(e["reason"], reason);
    }
    assert_eq!(anon.call("login", json!([{}])).await.unwrap_err()["error"], 400);

    // Foreign streams and rooms.
    let a = DdpClient::login(&url, &c.token("alice")).await.unwrap();
    let b = DdpClient::login(&url, &c.token("bob")).await.unwrap();
    a.sub_room("d_alice_bob").await.unwrap();
    assert!(b.sub("stream-notify-user", json!(["alice/notification", false])).await.is_err());
    assert!(b.sub("stream-notify-user", json!(["bob/notification", false])).await.is_ok());
    assert!(b.sub_room("d_alice_carol").await.is_err());
    assert_eq!(b.send_msg("d_alice_carol", &msg_id(), "x").await.unwrap_err()["error"], 403);
    let narrow =
        DdpClient::login(&url, &c.token_with("dave", vec!["chat.read:r_team-*".into()], 3600))
            .await
            .unwrap();
    assert!(narrow.sub_room("r_general").await.is_err());
    assert!(narrow.sub_room("r_team-x").await.is_ok());
    assert_eq!(narrow.send_msg("r_team-x", &msg_id(), "x").await.unwrap_err()["error"], 403);
    assert_eq!(narrow.send_msg("r_general", &msg_id(), "x").await.unwrap_err()["error"], 403);

    // Direct publishes to chat_outgoing with the client crate, on the DM's own queue.
    let rid = "d_alice_bob";
    let producer = Producer::builder()
        .namesrv_addr(&c.namesrv_addr)
        .group("pg_e2e_attacker")
        .start()
        .await
        .unwrap();
    let select = |qs: &[MessageQueue], arg: &str| -> MessageQueue {
        let want = chat_proto::ids::shard(arg, qs.len()) as i32;
        qs.iter().find(|q| q.queue_id == want).unwrap().clone()
    };
    let forged_mallory = jwt::sign(
        &Claims::new("mallory", "chat", now, 3600, Claims::default_user_scopes()),
        b"wrong-key",
    );
    let valid_mallory = c.token("mallory");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no-jwt", None),
        ("forged", Some(forged)),
        ("forged-mallory", Some(forged_mallory)),
        ("sub-mismatch", Some(valid_mallory)),
    ];
    let mut attack_ids = Vec::new();
    for (label, token) in cases {
        let id = msg_id();
        let body = Outgoing::Msg(OutgoingMsg {
            v: 1,
            id: id.clone(),
            rid: rid.into(),
            msg: format!("attack {label}"),
            tmid: None,
            u: UserRef { id: "bob".into(), username: "bob".into() },
            gw: "attacker".into(),
            conn: "x".into(),
            recv_ts: 0,
        });
        let mut m = Message::new(CHAT_OUTGOING, serde_json::to_vec(&body).unwrap());
        m.set_tags("msg");
        m.set_keys([id.clone()]);
        m.put_property(PROP_RID, rid);
        if let Some(t) = token {
            m.put_property(PROP_JWT, t);
        }
        producer.send_with_selector(m, &select, rid).await.unwrap();
        attack_ids.push(id);
    }
    producer.shutdown().await;
    let sentinel = msg_id();
    a.send_msg(rid, &sentinel, "sentinel").await.unwrap();
    let got = a.collect_messages(1, Duration::from_secs(30)).await;
    assert_eq!(ids_of(&got), vec![sentinel], "none of the forged messages reached alice");
    for id in &attack_ids {
        assert!(
            c.inbox_by_key(id).await.iter().all(|m| !m.keys().contains(&id.as_str())),
            "{id} is not in chat_inbox"
        );
    }
    let dropped = c.observers[0]
        .as_ref()
        .unwrap()
        .metric("chat_observer_dropped_total{reason=\"invalid-token\"}");
    assert_eq!(dropped, 4);
}
