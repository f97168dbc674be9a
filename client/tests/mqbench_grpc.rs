//! `mqbench`'s gRPC mode end to end against a real name server and broker: a producer keeping
//! 64 SendMessage calls in flight on its one HTTP/2 connection, then a POP consumer
//! (ReceiveMessage, a server-streaming answer, + AckMessage) draining what it sent.

mod common;

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{wait_until, Stack, StackOptions};
use mq_test_support::{free_port, Proc};

/// Run `mqbench args...` to its end (at most `deadline`); its `--json` record.
async fn mqbench(s: &Stack, name: &str, args: &[&str], deadline: Duration) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mqbench"));
    cmd.args(args);
    let mut p = Proc::spawn_command(s.dir.path(), name, cmd);
    wait_until(&format!("{name} to finish"), deadline, || {
        let done = !p.alive();
        async move { done }
    })
    .await;
    // stdout and stderr share the log: the record is its one JSON line.
    let log = std::fs::read_to_string(&p.log).expect("mqbench log");
    let line = log.lines().rev().find(|l| l.starts_with('{'));
    let rec = line.and_then(|l| serde_json::from_str(l).ok());
    let rec = rec.unwrap_or_else(|| panic!("{name} printed no JSON record:\n{log}"));
    eprintln!("{name}: {rec}");
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_producer_then_pop_consumer() {
    let grpc_port = free_port();
    let opts = StackOptions::default().broker_set("grpcServerPort", &grpc_port.to_string());
    let s = Stack::start(opts).await;
    let grpc = format!("127.0.0.1:{grpc_port}");
    wait_until("the gRPC port to listen", Duration::from_secs(20), || {
        let up = TcpStream::connect(&grpc).is_ok();
        async move { up }
    })
    .await;
    s.create_topic("GrpcBench", 4).await;
    let ns = s.namesrv_addr.as_str();
    let common = ["-n", ns, "-t", "GrpcBench", "--grpc", &grpc, "--json"];

    let mut args = vec!["producer", "-s", "256", "--inflight", "64", "--duration", "2"];
    args.extend(common);
    let sent = mqbench(&s, "producer", &args, Duration::from_secs(60)).await;
    assert_eq!(sent["protocol"], "grpc", "{sent}");
    assert_eq!(sent["failed"], 0, "{sent}");
    let n = sent["msgs"].as_u64().expect("msgs");
    assert!(n > 0, "{sent}");

    // Drains the backlog (a new POP group starts at the first message), stops 3 s after the
    // last message; --duration bounds it.
    let mut args = vec!["consumer", "--pop", "--idle-exit", "3", "--duration", "60"];
    args.extend(common);
    let got = mqbench(&s, "consumer", &args, Duration::from_secs(90)).await;
    assert_eq!(got["consume_mode"], "grpc-pop", "{got}");
    assert_eq!(got["failed"], 0, "{got}");
    assert!(got["msgs"].as_u64().expect("msgs") >= n, "sent {n}, received {got}");
}
