//! Classic master/slave replication in-process (docs/ha-protocol.md §12 items 1, 2, 5): a
//! SYNC_MASTER and a SLAVE following it by a static `haMasterAddress`.

mod common;

use std::time::Duration;

use common::*;
use mq_common::protocol::codes::response;
use mq_common::protocol::RemotingCommand;
use mq_test_support::wait_until;

fn ha_config(dir: &std::path::Path, role: &str, id: &str) -> BrokerConfig {
    let mut c = test_config(dir);
    for (k, v) in [
        ("brokerRole", role),
        ("brokerId", id),
        ("haSendHeartbeatInterval", "200"),
        ("haHousekeepingInterval", "2000"),
        ("slaveTimeout", "1000"),
        ("mappedFileSizeCommitLog", "1048576"),
    ] {
        c.apply(k, v).unwrap();
    }
    c
}

async fn send(b: &TestBroker, i: usize) -> RemotingCommand {
    let h = send_header("Rep", (i % 4) as i32, "t", &format!("k{i}"));
    b.call(send_v2(&h, format!("body-{i}-{}", "x".repeat(i % 700)).as_bytes())).await
}

fn commit_log(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_master_acks_only_what_a_slave_holds() {
    let (md, sd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut mc = ha_config(md.path(), "SYNC_MASTER", "0");
    mc.apply("metricsExporterType", "PROM").unwrap();
    mc.apply("metricsPromExporterPort", "0").unwrap();
    let master = start(mc).await;
    master.create_topic("Rep", 4).await;

    // No slave yet: SLAVE_NOT_AVAILABLE at once, and the message is stored anyway.
    let r = send(&master, 0).await;
    assert_eq!(r.code, response::SLAVE_NOT_AVAILABLE, "{:?}", r.remark);
    assert!(r.ext_fields.get("msgId").is_some(), "header filled as for success");

    let ha_port = master.ctl.broker().cfg.ha_listen_port;
    let mut sc = ha_config(sd.path(), "SLAVE", "1");
    sc.apply("haMasterAddress", &format!("127.0.0.1:{ha_port}")).unwrap();
    let slave = start(sc).await;
    let (m, s) = (master.ctl.broker().clone(), slave.ctl.broker().clone());
    wait_until("slave connected", T, || {
        let m = m.clone();
        async move { m.ha.connection_count() == 1 }
    })
    .await;

    // With a slave: every send is SEND_OK, and only once the slave holds it.
    for i in 1..300 {
        let r = send(&master, i).await;
        assert_eq!(r.code, response::SUCCESS, "send {i}: {:?}", r.remark);
        let end = m.ha.transfer.acked();
        assert!(s.store.get_max_phy_offset() >= end);
    }
    wait_until("slave caught up", T, || {
        let (m, s) = (m.clone(), s.clone());
        async move { s.store.get_max_phy_offset() == m.store.get_max_phy_offset() }
    })
    .await;
    // The slave's files are byte-identical, its consume queues serve the same messages.
    let (mf, sf) = (commit_log(md.path()), commit_log(sd.path()));
    let end = m.store.get_max_phy_offset() as usize;
    let (mb, sb): (Vec<u8>, Vec<u8>) =
        (mf.into_iter().flat_map(|f| f.1).collect(), sf.into_iter().flat_map(|f| f.1).collect());
    let first_diff = mb[..end].iter().zip(&sb[..end]).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "commit logs differ (end {end})");
    for q in 0..4 {
        assert_eq!(
            m.store.get_max_offset_in_queue("Rep", q),
            s.store.get_max_offset_in_queue("Rep", q)
        );
    }
    let status = m.ha.status();
    assert!(status.iter().any(|(k, v)| *k == "haConnectionCount" && v == "1"), "{status:?}");
    // The same in Prometheus: role, one HA connection, a caught-up replica (the name the
    // RmqReplicaLag alert uses).
    let text = scrape(master.ctl.metrics_addr().expect("metrics endpoint")).await;
    use mq_common::probe::sample;
    assert_eq!(sample(&text, "rmq_broker_info", &[("role", "SYNC_MASTER")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "rmq_ha_connections", &[]), Some(1.0));
    assert_eq!(sample(&text, "rmq_replica_lag_bytes", &[]), Some(0.0), "{text}");

    // A slave refuses writes with Java's code.
    let r = send(&slave, 1).await;
    assert_eq!(r.code, response::SERVICE_NOT_AVAILABLE, "{:?}", r.remark);
    assert!(r.remark.unwrap_or_default().contains("messages are put to the slave"));

    // The slave goes away: SLAVE_NOT_AVAILABLE again (at once, not after slaveTimeout).
    slave.shutdown().await;
    wait_until("slave gone", T, || {
        let m = m.clone();
        async move { m.ha.connection_count() == 0 }
    })
    .await;
    let t0 = std::time::Instant::now();
    let r = send(&master, 400).await;
    assert_eq!(r.code, response::SLAVE_NOT_AVAILABLE);
    assert!(t0.elapsed() < Duration::from_millis(900), "answered at once");
    master.shutdown().await;
}

fn slave_config(dir: &std::path::Path, master: &TestBroker) -> BrokerConfig {
    let mut sc = ha_config(dir, "SLAVE", "1");
    let ha_port = master.ctl.broker().cfg.ha_listen_port;
    sc.apply("haMasterAddress", &format!("127.0.0.1:{ha_port}")).unwrap();
    sc
}

/// A slave whose log came from another master (the master was replaced by a fresh one that
/// has since written more) refuses the new master's bytes instead of appending after its own:
/// its log stays as it was, it reports the divergence, and the SYNC_MASTER never answers
/// SEND_OK on its account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_of_a_replaced_master_is_refused_never_diverges() {
    let (md, sd, md2) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut mc = ha_config(md.path(), "SYNC_MASTER", "0");
    mc.apply("metricsExporterType", "PROM").unwrap();
    mc.apply("metricsPromExporterPort", "0").unwrap();
    let master = start(mc).await;
    master.create_topic("Rep", 4).await;
    let slave = start(slave_config(sd.path(), &master)).await;
    let m = master.ctl.broker().clone();
    wait_until("slave connected", T, || {
        let m = m.clone();
        async move { m.ha.connection_count() == 1 }
    })
    .await;
    for i in 0..100 {
        assert_eq!(send(&master, i).await.code, response::SUCCESS);
    }
    let held = slave.ctl.broker().store.get_max_phy_offset();
    slave.shutdown().await;
    master.shutdown().await;
    drop(m);

    // A fresh master (another store) writes more than the slave holds.
    let master2 = start(ha_config(md2.path(), "SYNC_MASTER", "0")).await;
    master2.create_topic("Rep", 4).await;
    for i in 0..150 {
        let r = send(&master2, 1000 + i).await;
        assert_eq!(r.code, response::SLAVE_NOT_AVAILABLE);
    }
    let m2 = master2.ctl.broker().clone();
    assert!(m2.store.get_max_phy_offset() > held);
    let slave = start(slave_config(sd.path(), &master2)).await;
    let s = slave.ctl.broker().clone();
    wait_until("slave reports the divergence", T, || {
        let s = s.clone();
        async move { s.ha.diverged() }
    })
    .await;
    for i in 0..5 {
        let r = send(&master2, 2000 + i).await;
        assert_ne!(r.code, response::SUCCESS, "a SEND_OK on a diverged slave's account");
    }
    assert_eq!(s.store.get_max_phy_offset(), held, "the slave's log did not change");
    assert_eq!(m2.ha.transfer.acked(), 0, "the diverged slave never acknowledged anything");
    slave.shutdown().await;
    master2.shutdown().await;
}
