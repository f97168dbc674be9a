//! T2: direct messages across two gateways: all delivered, in order, increasing cursors, and
//! the same messages come back from `loadHistory` (newest first) and `loadMissedMessages`.

use std::time::Duration;

use chat_e2e::{msg_id, serial, Cluster, ClusterOpts, DdpClient};
use chat_proto::cursor::Cursor;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t02_dm_across_gateways() {
    let _g = serial();
    let c = Cluster::start(ClusterOpts::default()).await;
    let a = DdpClient::login(&c.gw(0).ws_url(), &c.token("alice")).await.unwrap();
    let b = DdpClient::login(&c.gw(1).ws_url(), &c.token("bob")).await.unwrap();
    let rid = a.call("createDirectMessage", json!(["bob"])).await.unwrap()["rid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rid, "d_alice_bob");
    b.sub_room(&rid).await.unwrap();
    a.sub_room(&rid).await.unwrap();

    let n = 100;
    let mut ids = Vec::new();
    for i in 0..n {
        let id = msg_id();
        // The client `u` is ignored: the stored sender is the JWT subject.
        let r = a
            .call(
                "sendMessage",
                json!([{"_id": id, "rid": rid, "msg": format!("m{i}"), "u": {"_id": "mallory"}}]),
            )
            .await
            .unwrap();
        assert_eq!(r["_id"], json!(id), "result echoes the client _id");
        assert_eq!(r["u"]["_id"], "alice");
        ids.push(id);
    }
    let got = b.collect_messages(n, Duration::from_secs(60)).await;
    let got_ids: Vec<String> =
        got.iter().map(|(m, _)| m["_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(got_ids, ids, "bob receives exactly the 100 messages in send order, no duplicates");
    let cursors: Vec<Cursor> =
        got.iter().map(|(m, _)| m["_cursor"].as_str().unwrap().parse().unwrap()).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "cursors strictly increase");
    assert!(got.iter().all(|(m, _)| m["u"]["_id"] == "alice"));
    // The sender gets its echo too.
    let echo = a.collect_messages(n, Duration::from_secs(30)).await;
    assert_eq!(echo.len(), n);

    // History, newest first.
    let h = b.call("loadHistory", json!([rid, null, n])).await.unwrap();
    let hist: Vec<String> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["_id"].as_str().unwrap().to_string())
        .collect();
    let mut rev = ids.clone();
    rev.reverse();
    assert_eq!(hist, rev, "loadHistory returns the same messages newest first");
    // Small pages come from the key index.
    let h5 = b.call("loadHistory", json!([rid, null, 5])).await.unwrap();
    let hist5: Vec<String> = h5["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hist5, rev[..5].to_vec());

    // Gap-fill from a cursor: everything after message 49.
    let missed = b.call("loadMissedMessages", json!([rid, cursors[49].to_string()])).await.unwrap();
    let missed_ids: Vec<String> =
        missed.as_array().unwrap().iter().map(|m| m["_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(missed_ids, ids[50..].to_vec());

    // A third user cannot read the DM.
    let carol = DdpClient::login(&c.gw(0).ws_url(), &c.token("carol")).await.unwrap();
    assert!(carol.sub_room(&rid).await.is_err());
    assert_eq!(carol.call("loadHistory", json!([rid, null, 10])).await.unwrap_err()["error"], 403);
}
