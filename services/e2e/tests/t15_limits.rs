//! T15: the connection cap (the 11th upgrade gets HTTP 503) and a slow reader (closed by the
//! gateway, 1013 server-side) that does not disturb the other sockets.

use std::time::Duration;

use chat_e2e::proc::http_get;
use chat_e2e::{msg_id, serial, wait_until, Cluster, ClusterOpts, DdpClient};
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t15_connection_cap_and_slow_reader() {
    let _g = serial();
    let env = vec![
        ("MAX_CONCURRENT_CONNECTIONS".to_string(), "10".to_string()),
        ("CONNECTION_TIMEOUT".to_string(), "120".to_string()),
        ("MAX_BUFFERED_BYTES".to_string(), "262144".to_string()),
    ];
    let c = Cluster::start(ClusterOpts {
        gateways: 1,
        observers: 1,
        gateway_env: env,
        ..Default::default()
    })
    .await;
    let url = c.gw(0).ws_url();

    // Cap.
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(DdpClient::connect(&url).await.unwrap());
    }
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503)
        }
        other => panic!("11th upgrade must get 503, got {:?}", other.map(|_| ())),
    }
    clients.clear();
    let addr = c.gw(0).addr();
    wait_until("sockets released", Duration::from_secs(10), || {
        let addr = addr.clone();
        async move {
            http_get(&addr, "/v1/stats")
                .map(|(_, b)| b.contains("\"connections\":0"))
                .unwrap_or(false)
        }
    })
    .await;

    // Slow reader: a socket with a tiny receive buffer that stops reading after subscribing.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(format!("127.0.0.1:{}", c.gw(0).port).parse().unwrap()).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.unwrap();
    let token = c.token("slow");
    for f in [
        json!({"msg":"connect","version":"1","support":["1"]}),
        json!({"msg":"method","id":"1","method":"login","params":[{"resume": token}]}),
        json!({"msg":"sub","id":"s1","name":"stream-room-messages","params":["r_flood", {"useCollection": false, "args": []}]}),
    ] {
        slow.send(Message::Text(f.to_string().into())).await.unwrap();
    }
    let reader = DdpClient::login(&url, &c.token("reader")).await.unwrap();
    reader.sub_room("r_flood").await.unwrap();
    let senders: Vec<DdpClient> = futures::future::join_all((0..4).map(|i| {
        let (url, t) = (url.clone(), c.token(&format!("sender{i}")));
        async move { DdpClient::login(&url, &t).await.unwrap() }
    }))
    .await;
    // Flood the room in rounds until the gateway gives up on the slow socket (the kernel buffers
    // in between absorb a few MB first; how many depends on the machine's TCP settings).
    let text = "x".repeat(5000);
    let gw = c.gw(0);
    let mut sent = 0;
    for _round in 0..12 {
        futures::future::join_all(senders.iter().map(|s| {
            let text = text.clone();
            async move {
                for _ in 0..100 {
                    s.send_msg("r_flood", &msg_id(), &text).await.unwrap();
                }
            }
        }))
        .await;
        sent += 4 * 100;
        if gw.metric("ddp_slow_consumer_closed_total") >= 1 {
            break;
        }
    }
    wait_until("the slow reader to be closed", Duration::from_secs(30), || async {
        gw.metric("ddp_slow_consumer_closed_total") >= 1
    })
    .await;
    let got = reader.collect_messages(sent, Duration::from_secs(120)).await;
    assert_eq!(got.len(), sent, "the normal reader got every message exactly once");
    assert!(reader.close_code().is_none(), "the normal reader is still connected");
    drop(slow);
}
