//! Registration with a real nameserver (route appears, follows topic changes, disappears on
//! clean shutdown) and the `mqbroker` binary itself (-p, invalid values, SIGTERM → exit 0).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use mq_common::protocol::body::TopicRouteData;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::GetRouteInfoRequestHeader;
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_namesrv::config::NamesrvConfig;
use mq_namesrv::controller::NamesrvController;

async fn route(client: &RemotingClient, ns: &str, topic: &str) -> Option<TopicRouteData> {
    let req = RemotingCommand::request_with_header(
        rq::GET_ROUTEINFO_BY_TOPIC,
        &GetRouteInfoRequestHeader { topic: topic.into(), accept_standard_json_only: None },
    );
    let r = client.invoke(ns, req, T).await.ok()?;
    (r.code == response::SUCCESS).then(|| lenient_json::from_slice(&r.body).ok()).flatten()
}

#[tokio::test]
async fn registers_routes_and_unregisters_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let ns_cfg = NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.path().join("kv.json"),
        ..Default::default()
    };
    let ns = NamesrvController::start(ns_cfg).await.unwrap();
    let ns_addr = ns.local_addr().to_string();
    let mut cfg = test_config(&dir.path().join("store"));
    cfg.apply("namesrvAddr", &ns_addr).unwrap();
    let b = start(cfg).await;
    let client = RemotingClient::new(ClientConfig::default());

    let tbw = route(&client, &ns_addr, "TBW102").await.expect("TBW102 registered at start");
    assert_eq!(tbw.broker_datas[0].broker_addrs["0"], b.ctl.broker_addr());
    assert_eq!(tbw.queue_datas[0].perm, 7);

    // A new topic is registered at once (no 30 s wait).
    b.create_topic("Routed", 3).await;
    let r = wait_until("route of a new topic", T, || async {
        route(&client, &ns_addr, "Routed").await
    })
    .await;
    assert_eq!(r.queue_datas[0].write_queue_nums, 3);

    b.shutdown().await;
    wait_until("route gone after unregister", T, || async {
        route(&client, &ns_addr, "Routed").await.is_none().then_some(())
    })
    .await;
    client.close_all();
    ns.shutdown().await;
}

fn mqbroker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mqbroker"))
}

#[test]
fn binary_prints_config_and_refuses_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broker.conf");
    std::fs::write(&conf, "brokerName=broker-x\nlistenPort=20911\nnoSuchKey=1\n").unwrap();
    let out =
        mqbroker().arg("-c").arg(&conf).arg("-m").env_remove("NAMESRV_ADDR").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("brokerName=broker-x"), "{text}");
    assert!(text.contains("listenPort=20911"));
    assert!(!text.contains("maxMessageSize"), "-m prints important keys only");
    let out =
        mqbroker().arg("-c").arg(&conf).arg("-p").arg("-n").arg("10.0.0.1:9876").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("namesrvAddr=10.0.0.1:9876"));

    // NAMESRV_ADDR is the default; the file overrides it.
    let out = mqbroker()
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .env("NAMESRV_ADDR", "1.2.3.4:9876")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("namesrvAddr=1.2.3.4:9876"));
    std::fs::write(&conf, "namesrvAddr=5.6.7.8:9876\n").unwrap();
    let out = mqbroker()
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .env("NAMESRV_ADDR", "1.2.3.4:9876")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("namesrvAddr=5.6.7.8:9876"));

    std::fs::write(&conf, "brokerRole=CAPTAIN\n").unwrap();
    let out = mqbroker().arg("-c").arg(&conf).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("brokerRole"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn binary_shuts_down_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // free_port also checks the VIP (port - 2) and HA (port + 1) ports the broker binds.
    let port = mq_test_support::free_port();
    let store = dir.path().join("store");
    let mut cmd = mqbroker();
    cmd.args(["--set", "brokerIP1=127.0.0.1", "--set", &format!("listenPort={port}"), "--set"])
        .arg(format!("storePathRootDir={}", store.display()))
        .args(["--set", "mappedFileSizeCommitLog=33554432"])
        .env_remove("NAMESRV_ADDR");
    // Logged to a file (its tail is printed if this test fails) and killed on drop.
    let mut broker = mq_test_support::Proc::spawn_command(dir.path(), "mqbroker", cmd);
    wait_until_blocking("mqbroker to listen", Duration::from_secs(30), || {
        assert!(broker.alive(), "mqbroker exited before listening:\n{}", broker.log_tail(4096));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let status = broker.term(Duration::from_secs(20));
    let log = broker.log_tail(4096);
    assert!(status.is_some_and(|s| s.success()), "exit status {status:?}:\n{log}");
    // Clean shutdown: offsets/topics persisted, store abort marker removed.
    assert!(store.join("config/topics.json").exists(), "{log}");
    assert!(!store.join("abort").exists(), "{log}");
}
