//! The real `mqnamesrv` binary on a free port with a temp dir: raw-bytes registration, route
//! lookup, eviction with shortened timings, re-registration, bad frames, KV persistence across
//! restarts, SIGTERM, `-p`/`-m` and config errors.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn kv_path(dir: &tempfile::TempDir) -> String {
    format!("kvConfigPath={}", dir.path().join("kvConfig.json").display())
}

async fn route_code(addr: &str, topic: &str) -> i64 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let (h, _) = call_raw(&mut s, &route_header_json(1, topic), b"").await;
    h["code"].as_i64().unwrap()
}

#[tokio::test]
async fn register_route_evict_reregister_as_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let kv = kv_path(&dir);
    let ns = NamesrvProcess::start(&[
        "--listen",
        "127.0.0.1:0",
        "--set",
        &kv,
        "--set",
        "scanNotActiveBrokerInterval=200",
        "--set",
        "brokerChannelExpiredTime=1500",
    ]);
    let addr = ns.addr.clone();

    // Registration made of hand-written protocol bytes (spec §1.1, §5.2).
    let mut broker = TcpStream::connect(&addr).await.unwrap();
    let body = register_body_json("ProcTopic", 1);
    let (h, _) = call_raw(
        &mut broker,
        &register_header_json(1, "broker-p", "127.0.0.1:10911", 0, 0),
        body.as_bytes(),
    )
    .await;
    assert_eq!(h["code"], 0, "{h}");

    let mut client = TcpStream::connect(&addr).await.unwrap();
    let (h, body) = call_raw(&mut client, &route_header_json(2, "ProcTopic"), b"").await;
    assert_eq!(h["code"], 0, "{h}");
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#), "{text}");
    assert_eq!(route_code(&addr, "Unknown").await, 17, "TOPIC_NOT_EXIST");

    // Silent broker (connection kept open) is evicted after ~1.5 s.
    wait_until("the silent broker evicted", Duration::from_secs(15), || async {
        route_code(&addr, "ProcTopic").await == 17
    })
    .await;
    ns.wait_log("broker expired");
    assert!(closed_by_server(&mut broker).await, "the evicted broker's connection is closed");

    // Re-registration on a new connection.
    let mut broker = TcpStream::connect(&addr).await.unwrap();
    let body = register_body_json("ProcTopic", 2);
    let (h, _) = call_raw(
        &mut broker,
        &register_header_json(3, "broker-p", "127.0.0.1:10911", 0, 0),
        body.as_bytes(),
    )
    .await;
    assert_eq!(h["code"], 0);
    assert_eq!(route_code(&addr, "ProcTopic").await, 0);
    drop(broker);
    wait_until("closed connection unregisters", Duration::from_secs(10), || async {
        route_code(&addr, "ProcTopic").await == 17
    })
    .await;
}

#[tokio::test]
async fn concurrent_raw_registrations_from_fifty_brokers_as_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let kv = kv_path(&dir);
    let ns = NamesrvProcess::start(&["--listen", "127.0.0.1:0", "--set", &kv]);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let addr = ns.addr.clone();
        tasks.spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            for round in 1..=2 {
                let header = register_header_json(
                    round,
                    &format!("broker-{i}"),
                    &format!("10.2.0.{i}:10911"),
                    0,
                    0,
                );
                let (h, _) = call_raw(
                    &mut s,
                    &header,
                    register_body_json("SharedTopic", round as i64).as_bytes(),
                )
                .await;
                assert_eq!(h["code"], 0, "{h}");
            }
            s // keep the registration connection open
        });
    }
    let mut conns = Vec::new();
    while let Some(c) = tasks.join_next().await {
        conns.push(c.unwrap());
    }
    let mut s = TcpStream::connect(&ns.addr).await.unwrap();
    let (h, body) = call_raw(&mut s, &route_header_json(9, "SharedTopic"), b"").await;
    assert_eq!(h["code"], 0);
    let route: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(route["queueDatas"].as_array().unwrap().len(), 50);
    assert_eq!(route["brokerDatas"].as_array().unwrap().len(), 50);
    let (_, body) = call_raw(
        &mut s,
        r#"{"code":106,"flag":0,"language":"JAVA","opaque":10,"version":401}"#,
        b"",
    )
    .await;
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["clusterAddrTable"]["DefaultCluster"].as_array().unwrap().len(), 50);
    drop(conns);
}

#[tokio::test]
async fn bad_frames_do_not_hurt_the_process_and_sigterm_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let kv = kv_path(&dir);
    let mut ns = NamesrvProcess::start(&["--listen", "127.0.0.1:0", "--set", &kv]);
    let addr = ns.addr.clone();
    let mut broker = TcpStream::connect(&addr).await.unwrap();
    call_raw(
        &mut broker,
        &register_header_json(1, "b", "10.0.0.1:10911", 0, 0),
        register_body_json("Alive", 1).as_bytes(),
    )
    .await;
    for bytes in
        [vec![0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0], raw_frame("{broken", b""), vec![0, 0, 0, 1]]
    {
        let mut bad = TcpStream::connect(&addr).await.unwrap();
        bad.write_all(&bytes).await.unwrap();
        if bytes.len() > 4 {
            assert!(closed_by_server(&mut bad).await);
        }
    }
    assert_eq!(route_code(&addr, "Alive").await, 0);
    ns.wait_log("malformed frame");

    // KV config survives a restart of the process.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let put = r#"{"code":100,"extFields":{"namespace":"ns1","key":"k","value":"v1"},"flag":0,"language":"JAVA","opaque":1,"version":401}"#;
    let (h, _) = call_raw(&mut s, put, b"").await;
    assert_eq!(h["code"], 0);
    drop(s);
    let status = ns.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    ns.wait_log("name server stopped");

    let ns2 = NamesrvProcess::start(&["--listen", "127.0.0.1:0", "--set", &kv]);
    let mut s = TcpStream::connect(&ns2.addr).await.unwrap();
    let get = r#"{"code":101,"extFields":{"namespace":"ns1","key":"k"},"flag":0,"language":"JAVA","opaque":2,"version":401}"#;
    let (h, _) = call_raw(&mut s, get, b"").await;
    assert_eq!(h["code"], 0);
    assert_eq!(h["extFields"]["value"], "v1");
}

#[test]
fn print_config_and_config_errors() {
    let bin = env!("CARGO_BIN_EXE_mqnamesrv");
    let out = Command::new(bin).arg("-p").env_remove("MQNAMESRV_LISTEN_PORT").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l == "listenPort=9876"), "{text}");
    assert!(text.lines().any(|l| l == "scanNotActiveBrokerInterval=10000"));
    assert!(text.lines().any(|l| l == "enableAllTopicList=true"));

    // -c file, env and --set layered; -m prints important keys only.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("namesrv.conf");
    std::fs::write(&conf, "# sample\nlistenPort = 9999\nbrokerChannelExpiredTime: 5000\nenableAllTopicList=false\nunknownKey=1\n").unwrap();
    let out = Command::new(bin)
        .args(["-c", conf.to_str().unwrap(), "-m", "--set", "brokerChannelExpiredTime=7000"])
        .env("MQNAMESRV_LISTEN_PORT", "9998")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listenPort=9998\n"), "env beats file: {text}");
    assert!(text.contains("brokerChannelExpiredTime=7000\n"), "CLI beats file: {text}");
    assert!(!text.contains("enableAllTopicList"), "-m prints important keys only: {text}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknownKey"), "unknown keys are warned about: {err}");

    // The shipped sample config loads.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/namesrv.conf");
    let out = Command::new(bin).args(["-c", sample, "-p"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "no warnings for the sample: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The embedded controller's sample (enableControllerInNamesrv): its keys are known.
    let sample =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/controller-in-namesrv/namesrv-n1.conf");
    let out = Command::new(bin).args(["-c", sample, "-p"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "warnings: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in ["enableControllerInNamesrv=true", "controllerDLegerSelfId=n1", "listenPort=9886"] {
        assert!(text.lines().any(|l| l == want), "{want} in {text}");
    }
    // A self id missing from the peers is refused before anything starts.
    let out = Command::new(bin)
        .args(["-c", sample, "--set", "controllerDLegerSelfId=n7"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("n7") && err.contains("controllerDLegerPeers"), "{err}");

    // Bad config: one line naming the problem, non-zero exit.
    std::fs::write(&conf, "listenPort=abc\n").unwrap();
    let out = Command::new(bin).args(["-c", conf.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("listenPort") && err.contains("abc") && err.contains("namesrv.conf:1"),
        "{err}"
    );
    let out = Command::new(bin).args(["-c", "/nonexistent/namesrv.conf"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("/nonexistent/namesrv.conf"));

    // A port already taken: one-line error, non-zero exit.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(bin)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--set", &kv_path(&dir)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("cannot listen on"));
}

fn scrape(port: u16) -> String {
    let (status, body) = mq_common::probe::http_get(
        &format!("127.0.0.1:{port}"),
        "/metrics",
        Duration::from_secs(10),
    )
    .expect("scrape");
    assert_eq!(status, 200);
    body
}

#[tokio::test]
async fn prometheus_metrics_and_json_logs() {
    use mq_common::probe::sample;
    let dir = tempfile::tempdir().unwrap();
    let kv = kv_path(&dir);
    let port = mq_test_support::free_port();
    let mport = format!("metricsPromExporterPort={port}");
    let ns = NamesrvProcess::start_with_env(
        &[
            "--listen",
            "127.0.0.1:0",
            "--set",
            &kv,
            "--set",
            "metricsExporterType=PROM",
            "--set",
            &mport,
        ],
        &[("LOG_FORMAT", "json")],
    );
    let addr = ns.addr.clone();
    let mut broker = TcpStream::connect(&addr).await.unwrap();
    let body = register_body_json("MetricTopic", 1);
    let (h, _) = call_raw(
        &mut broker,
        &register_header_json(1, "broker-m", "127.0.0.1:10911", 0, 0),
        body.as_bytes(),
    )
    .await;
    assert_eq!(h["code"], 0, "{h}");

    let text = tokio::task::spawn_blocking(move || scrape(port)).await.unwrap();
    let live = [("broker_cluster", "DefaultCluster"), ("node_type", "nameserver")];
    assert_eq!(sample(&text, "rmq_namesrv_live_brokers", &live), Some(1.0), "{text}");
    assert_eq!(sample(&text, "rmq_namesrv_topics", &[]), Some(1.0));
    let reg = [("request_code", "103"), ("response_code", "0")];
    assert_eq!(sample(&text, "rocketmq_rpc_latency_count", &reg), Some(1.0));
    assert!(sample(&text, "rmq_remoting_connections", &[]).unwrap() >= 1.0);

    // The broker's registration connection closes: it is gone at once, and the cluster's
    // gauge reads 0 rather than disappearing.
    drop(broker);
    wait_until("the live broker gauge to drop to 0", Duration::from_secs(15), || async {
        let t = tokio::task::spawn_blocking(move || scrape(port)).await.unwrap();
        sample(&t, "rmq_namesrv_live_brokers", &[("broker_cluster", "DefaultCluster")]) == Some(0.0)
    })
    .await;

    // Every log line on stdout is one JSON object.
    ns.wait_log("boot success");
    let logs = ns.logs();
    let json: Vec<serde_json::Value> = logs
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        json.iter().any(|v| v["level"] == "INFO" && v["message"].is_string()),
        "JSON log lines: {logs:?}"
    );
}
