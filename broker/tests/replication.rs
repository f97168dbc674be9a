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
    // BROKER_TEST_COMMIT_LOG_WRITE (scripts/test-all.sh's run in the non-default mode) reached both stores.
    for (k, v) in mq_test_support::write_mode::broker_settings() {
        assert_eq!(k, "commitLogPwriteEnable");
        for b in [&m, &s] {
            assert_eq!(b.store.config().commit_log_pwrite_enable.to_string(), v);
        }
    }
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

    // Each acknowledgement's lag in time, over the wire (GET_BROKER_RUNTIME_INFO, what
    // `mqadmin brokerStatus` shows) and in Prometheus: every one of the 299 sends waited for a
    // report, and none waited as long as slaveTimeout.
    let info = mq_test_support::replica::runtime_info(&master.addr).await.expect("runtime info");
    let lag = info.get("haSlaveAckLag").expect("haSlaveAckLag");
    let f: Vec<u64> = lag.rsplitn(6, ':').take(5).map(|x| x.parse().unwrap()).collect();
    let (beyond, max, p99, p50, count) = (f[0], f[1], f[2], f[3], f[4]);
    assert!(count >= 299, "{lag}");
    assert!(0 < p50 && p50 <= p99 && p99 <= max && max < 1_000_000, "{lag}");
    // Only the first acknowledgement may be a lower bound: it covers message 0, stored before
    // the slave connected (no sample is taken without a slave).
    assert!(beyond <= 1, "{lag}");
    let listing = info.get("haSlaveAckLagHistogram").expect("haSlaveAckLagHistogram");
    let (_, buckets) = listing.split_once('=').expect("peer=buckets");
    let listed: u64 =
        buckets.split(',').map(|b| b.split_once(':').unwrap().1.parse::<u64>().unwrap()).sum();
    assert_eq!(listed, count, "{listing}");
    let text = scrape(master.ctl.metrics_addr().expect("metrics endpoint")).await;
    let in_metric = sample(&text, "rmq_replica_ack_lag_ms_count", &[]).expect("lag histogram");
    assert!(in_metric >= count as f64, "{text}");

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

/// A slave ahead of a replaced master (the master came back from an older copy of its store
/// and wrote on): the slave is refused and its status names the first differing byte
/// (`haDivergedAt`); the operator's cut (`mqbroker --truncate-to`, here its library call)
/// takes it back to the last common record boundary, after which it follows the master byte
/// for byte and SYNC_MASTER sends are SEND_OK again. A master's store is never cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_slave_truncated_by_the_operator_follows_again() {
    use mq_broker::ha::truncate::truncate_slave_store;
    let (md, sd, backup) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let connected = |m: &TestBroker| {
        let m = m.ctl.broker().clone();
        wait_until("slave connected", T, move || {
            let m = m.clone();
            async move { m.ha.connection_count() == 1 }
        })
    };
    let master = start(ha_config(md.path(), "SYNC_MASTER", "0")).await;
    master.create_topic("Rep", 4).await;
    let slave = start(slave_config(sd.path(), &master)).await;
    connected(&master).await;
    for i in 0..100 {
        assert_eq!(send(&master, i).await.code, response::SUCCESS);
    }
    let x1 = master.ctl.broker().store.get_max_phy_offset();
    slave.shutdown().await;
    master.shutdown().await;
    // The backup the master will later be restored from.
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", md.path().display()))
        .arg(backup.path())
        .status()
        .unwrap();
    assert!(st.success());
    let master = start(ha_config(md.path(), "SYNC_MASTER", "0")).await;
    let slave = start(slave_config(sd.path(), &master)).await;
    connected(&master).await;
    for i in 100..200 {
        assert_eq!(send(&master, i).await.code, response::SUCCESS);
    }
    let x2 = slave.ctl.broker().store.get_max_phy_offset();
    assert!(x2 > x1);
    slave.shutdown().await;
    master.shutdown().await;

    // The master comes back from the backup and writes other messages after x1.
    let master = start(ha_config(backup.path(), "SYNC_MASTER", "0")).await;
    for i in 0..30 {
        assert_eq!(send(&master, 5000 + i).await.code, response::SLAVE_NOT_AVAILABLE);
    }
    let scfg = slave_config(sd.path(), &master);
    let slave = start(scfg.clone()).await;
    let s = slave.ctl.broker().clone();
    wait_until("slave reports the divergence (ahead of the master)", T, || {
        let s = s.clone();
        async move { s.ha.diverged() }
    })
    .await;
    let at = s.ha.diverged_at();
    assert!((x1..x2).contains(&at), "diverged at {at}, common prefix {x1}, slave end {x2}");
    let status = s.ha.status();
    assert!(status.iter().any(|(k, v)| *k == "haDivergedAt" && *v == at.to_string()));
    slave.shutdown().await;
    drop(s);

    let e = truncate_slave_store(&ha_config(backup.path(), "SYNC_MASTER", "0"), 0).unwrap_err();
    assert!(e.contains("refusing to truncate"), "{e}");
    // The operator's procedure: cut at haDivergedAt, restart; again while still refused (each
    // round sees only the master's end or the slave's last 4 KiB, so a long divergent tail
    // takes a few rounds). Never below the common prefix, never past a differing byte.
    let mut at = at;
    let mut rounds = 0;
    let slave = loop {
        rounds += 1;
        assert!(rounds <= 20, "still diverged after {rounds} cuts");
        let t = truncate_slave_store(&scfg, at).unwrap();
        assert!(t.to >= x1 && t.to <= at, "cut to {} (common prefix {x1}, asked {at})", t.to);
        let slave = start(slave_config(sd.path(), &master)).await;
        let (m, s) = (master.ctl.broker().clone(), slave.ctl.broker().clone());
        let diverged = wait_until("the slave follows or is refused again", T, || {
            let (m, s) = (m.clone(), s.clone());
            async move {
                if s.ha.diverged() {
                    Some(true)
                } else {
                    (m.ha.connection_count() == 1 && m.ha.transfer.acked() > 0).then_some(false)
                }
            }
        })
        .await;
        if !diverged {
            break slave;
        }
        at = s.ha.diverged_at();
        slave.shutdown().await;
    };
    eprintln!("the diverged slave follows again after {rounds} cut(s)");
    let (m, s) = (master.ctl.broker().clone(), slave.ctl.broker().clone());
    connected(&master).await;
    for i in 0..20 {
        assert_eq!(send(&master, 6000 + i).await.code, response::SUCCESS, "send {i}");
    }
    wait_until("slave caught up", T, || {
        let (m, s) = (m.clone(), s.clone());
        async move { s.store.get_max_phy_offset() == m.store.get_max_phy_offset() }
    })
    .await;
    assert!(!s.ha.diverged());
    let end = m.store.get_max_phy_offset() as usize;
    let (mf, sf) = (commit_log(backup.path()), commit_log(sd.path()));
    let (mb, sb): (Vec<u8>, Vec<u8>) =
        (mf.into_iter().flat_map(|f| f.1).collect(), sf.into_iter().flat_map(|f| f.1).collect());
    assert_eq!(mb[..end].iter().zip(&sb[..end]).position(|(a, b)| a != b), None);
    slave.shutdown().await;
    master.shutdown().await;
}
