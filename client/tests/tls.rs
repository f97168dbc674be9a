//! TLS on the remoting ports against real processes: the name server in `permissive` mode
//! (plaintext and TLS on one port, told apart by the first byte), the broker in `enforcing`
//! mode (plaintext refused) registering with the name server over TLS itself; our producer,
//! consumer and `mqadmin --tls-ca` over TLS; a replaced certificate is picked up without a
//! restart (new connections are served its serial) while existing connections keep working,
//! and a pair whose key does not match is refused with a logged reason, the last good one
//! staying in use.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{wait_until, StackOptions};
use mq_client::{ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer};
use mq_common::protocol::codes::request as rq;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient, TlsClient};
use mq_test_support::{free_port, make_test_certs, Proc, Stack};

const WAIT: Duration = Duration::from_secs(20);

fn client(tls: Option<&std::path::Path>) -> RemotingClient {
    RemotingClient::new(ClientConfig {
        tls: tls.map(|ca| TlsClient::from_ca_file(ca).unwrap()),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    })
}

/// `serial=…` and `issuer=…` of a PEM certificate file.
fn cert_id(pem: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-issuer", "-in"])
        .arg(pem)
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The same of the certificate a new TLS connection to `addr` is served (`openssl s_client`,
/// bounded by `timeout`); empty when the handshake fails.
fn served_cert_id(addr: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "timeout 10 openssl s_client -connect {addr} </dev/null 2>/dev/null \
             | openssl x509 -noout -serial -issuer"
        ))
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn ping(c: &RemotingClient, addr: &str) -> Result<i32, String> {
    c.invoke(addr, RemotingCommand::request(rq::GET_BROKER_CLUSTER_INFO), Duration::from_secs(5))
        .await
        .map(|r| r.code)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_enforcing_clients_and_reload() {
    let pki = tempfile::tempdir().unwrap();
    let certs = make_test_certs(pki.path(), "one");
    // The broker reads its own copies, which the reload step replaces.
    let (bcert, bkey) = (pki.path().join("broker-cert.pem"), pki.path().join("broker-key.pem"));
    std::fs::copy(&certs.cert, &bcert).unwrap();
    std::fs::copy(&certs.key, &bkey).unwrap();
    let (cert, key, ca) = (
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
        certs.ca.display().to_string(),
    );
    let (bcert_s, bkey_s) = (bcert.display().to_string(), bkey.display().to_string());
    let opts = StackOptions::default()
        .namesrv_set("tlsMode", "permissive")
        .namesrv_set("tlsCertPath", &cert)
        .namesrv_set("tlsKeyPath", &key)
        .broker_sets(&[
            ("tlsMode", "enforcing"),
            ("tlsCertPath", &bcert_s),
            ("tlsKeyPath", &bkey_s),
            ("tlsReloadIntervalMillis", "100"),
            // Its registrations go to the name server over TLS.
            ("tlsEnable", "true"),
            ("tlsTrustCertPath", &ca),
        ])
        .tls_ca(&certs.ca);
    let stack = Stack::start(opts).await;
    stack.create_topic("TlsTopic", 4).await;

    // Name server, permissive: both kinds of client on one port.
    assert_eq!(ping(&client(None), &stack.namesrv_addr).await, Ok(0));
    assert_eq!(ping(&client(Some(&certs.ca)), &stack.namesrv_addr).await, Ok(0));
    // Broker, enforcing: plaintext is closed, TLS answers.
    assert!(ping(&client(None), &stack.broker_addr).await.is_err(), "plaintext must be refused");
    let tls_client = client(Some(&certs.ca));
    let code = tls_client
        .invoke(&stack.broker_addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO), WAIT)
        .await
        .unwrap()
        .code;
    assert_eq!(code, 0);
    // A client trusting another CA fails the handshake.
    let other = make_test_certs(pki.path(), "other");
    assert!(ping(&client(Some(&other.ca)), &stack.broker_addr).await.is_err());

    // Producer and consumer over TLS.
    let producer = Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .tls_ca(&certs.ca)
        .unwrap()
        .group("tls_pg")
        .start()
        .await
        .unwrap();
    for i in 0..20 {
        producer.send(Message::new("TlsTopic", format!("m{i}"))).await.expect("send over TLS");
    }
    let got = Arc::new(AtomicU64::new(0));
    let g = got.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .tls_ca(&certs.ca)
        .unwrap()
        .group("tls_cg")
        .subscribe("TlsTopic", "*")
        .consume_from(ConsumeFromWhere::First)
        .rebalance_interval(Duration::from_millis(500))
        .start(move |_m: MessageExt| {
            let g = g.clone();
            async move {
                g.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
        .await
        .unwrap();
    wait_until("20 messages consumed over TLS", WAIT, || {
        let got = got.clone();
        async move { got.load(Ordering::Relaxed) >= 20 }
    })
    .await;
    consumer.shutdown().await;

    // mqadmin over TLS.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(["topicStatus", "-n", &stack.namesrv_addr, "-t", "TlsTopic", "--tls-ca", &ca])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("TlsTopic") || text.contains("broker-a"), "{text}");

    // Certificate reload: the broker's files are replaced with another CA's; new clients
    // trusting that CA get in without a restart, the open connection keeps working.
    assert_eq!(served_cert_id(&stack.broker_addr), cert_id(&certs.cert));
    std::fs::copy(&other.cert, &bcert).unwrap();
    std::fs::copy(&other.key, &bkey).unwrap();
    wait_until("the replaced certificate is served", WAIT, || {
        let ca = other.ca.clone();
        let addr = stack.broker_addr.clone();
        async move {
            let c = client(Some(&ca));
            c.invoke(&addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO), WAIT)
                .await
                .map(|r| r.code == 0)
                .unwrap_or(false)
        }
    })
    .await;
    producer
        .send(Message::new("TlsTopic", "after reload"))
        .await
        .expect("open connection survives");
    assert_eq!(served_cert_id(&stack.broker_addr), cert_id(&other.cert), "new serial served");

    // A bad pair (the first certificate with the second key) is refused with a reason in
    // the log; the last good certificate stays in use.
    // (The swap above may itself have been seen half done: count the refusals.)
    let log = stack.dir.path().join("broker-a.log");
    let refusals = |log: &std::path::Path| {
        std::fs::read_to_string(log)
            .map(|l| l.matches("TLS certificate not reloaded").count())
            .unwrap_or(0)
    };
    let before = refusals(&log);
    std::fs::copy(&certs.cert, &bcert).unwrap();
    wait_until("the broker logs why the bad pair was not taken", WAIT, || {
        let log = log.clone();
        async move { refusals(&log) > before }
    })
    .await;
    assert_eq!(served_cert_id(&stack.broker_addr), cert_id(&other.cert), "last good pair kept");
    producer.send(Message::new("TlsTopic", "after a bad pair")).await.expect("still serving");
    producer.shutdown().await;
}

/// The one-master guard asks the name servers with the broker's own outgoing settings: behind
/// a TLS-only name server a second master of the same group is still refused (a plaintext
/// probe would be closed, count as "name server unreachable" and let it start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_master_refused_through_an_enforcing_name_server() {
    let pki = tempfile::tempdir().unwrap();
    let certs = make_test_certs(pki.path(), "guard");
    let (cert, key, ca) = (
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
        certs.ca.display().to_string(),
    );
    let opts = StackOptions::default()
        .namesrv_set("tlsMode", "enforcing")
        .namesrv_set("tlsCertPath", &cert)
        .namesrv_set("tlsKeyPath", &key)
        .broker_sets(&[("tlsEnable", "true"), ("tlsTrustCertPath", &ca)])
        .tls_ca(&certs.ca);
    let stack = Stack::start(opts).await;
    let name = stack.broker_names()[0].clone();
    let dir = stack.dir.path();
    let conf = dir.join("second-master.conf");
    std::fs::write(
        &conf,
        format!(
            "brokerName={name}\nbrokerId=0\nnamesrvAddr={}\nbrokerIP1=127.0.0.1\nlistenPort={}\n\
             haListenPort={}\nstorePathRootDir={}\ngrpcServerPort=0\ntlsEnable=true\n\
             tlsTrustCertPath={ca}\nmappedFileSizeCommitLog=33554432\n",
            stack.namesrv_addr,
            free_port(),
            free_port(),
            dir.join("store-second-master").display()
        ),
    )
    .unwrap();
    let mut second = Proc::spawn(
        dir,
        "second-master",
        "mqbroker",
        &["-c".into(), conf.display().to_string()],
        &[],
    );
    wait_until("the second master to give up", WAIT, || {
        let alive = second.alive();
        async move { !alive }
    })
    .await;
    let log = std::fs::read_to_string(dir.join("second-master.log")).unwrap();
    assert!(log.contains("refusing to start as a second master"), "{log}");
}
