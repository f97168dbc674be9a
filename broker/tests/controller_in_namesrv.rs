//! `enableControllerInNamesrv=true` with real processes (issue 19, `docs/controller.md`): three
//! `mqnamesrv`, each running a controller replica in-process on its own peer address (Java's
//! embedded DLedger controller serves there too, not on the name server's port), and a
//! 2-replica group of `mqbroker`s whose `controllerAddr` is those peer addresses. Our producer
//! sends SYNC with `allAckInSyncStateSet=true`; the master is killed -9; the embedded
//! controllers elect the replica, the name servers route it, sends resume and every
//! acknowledged message is on the new master.

#[path = "common/controller_group.rs"]
mod controller_group;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller_group::*;
use mq_client::admin::BrokerTarget;
use mq_client::Admin;
use mq_common::protocol::body::TopicConfig;
use mq_test_support::cluster::{Cluster, Node};
use mq_test_support::controllers::FAST_TIMINGS;
use mq_test_support::ports::free_port;
use mq_test_support::wait_until;
use parking_lot::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_embedded_in_three_name_servers_fail_over_a_two_replica_group() {
    let started = Instant::now();
    let peers: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
    let peer_list =
        peers.iter().enumerate().map(|(i, a)| format!("n{i}-{a}")).collect::<Vec<_>>().join(";");
    let mut ns_settings: Vec<(&str, &str)> = vec![
        ("enableControllerInNamesrv", "true"),
        ("controllerDLegerGroup", "NsCtlGroup"),
        ("controllerDLegerPeers", &peer_list),
        ("controllerDLegerSelfId", "n{i}"),
        ("controllerStorePath", "{dir}/ns-controller-{i}"),
    ];
    ns_settings.extend_from_slice(&FAST_TIMINGS);
    let ctl_addr = peers.join(";");
    let mut settings = broker_settings(&ctl_addr);
    settings.extend_from_slice(&FAST_BROKER);
    let mut c = Cluster::start_with(3, &ns_settings, &settings).await;
    let mut addrs: BTreeMap<&str, String> = BTreeMap::new();
    for n in ["r1", "r2"] {
        addrs.insert(n, c.add_broker_unrouted(Node::master(n, GROUP, "ASYNC_MASTER")));
    }
    let ns = c.namesrv_list();
    let master = wait_until("a master routed", T, || routed_master(c.namesrv(0))).await;
    wait_until("2 replicas in sync", T, || async {
        status(&master, "syncStateSet").await.is_some_and(|s| s.split(',').count() == 2)
    })
    .await;
    println!("group in sync after {:?}; master {master}", started.elapsed());
    let admin = Admin::connect(&ns).await.unwrap();
    for a in addrs.values() {
        let tc = TopicConfig::new(TOPIC, QUEUES, 6);
        admin.create_topic(&BrokerTarget::Addr(a.clone()), &tc).await.expect("create topic");
    }
    admin.close();

    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (producer, task) = sender(&ns, sent.clone(), stop.clone()).await;
    wait_until("50 acknowledged sends", T, || async { sent.lock().acked.len() >= 50 }).await;
    let name = addrs.iter().find(|(_, a)| **a == master).map(|(n, _)| *n).unwrap();
    c.kill(name);
    let killed = Instant::now();
    // Every name server routes the other replica as master.
    let new_master = wait_until("the replica routed as master by every name server", T, || {
        let c = &c;
        let master = &master;
        async move {
            let mut seen = None;
            for i in 0..3 {
                let m = routed_master(c.namesrv(i)).await.filter(|m| m != master)?;
                if seen.as_ref().is_some_and(|s| *s != m) {
                    return None;
                }
                seen = Some(m);
            }
            seen
        }
    })
    .await;
    let routed = killed.elapsed();
    let first_ok = wait_until("a send acknowledged after the kill", T, || async {
        sent.lock().acked.values().filter(|t| **t > killed).min().copied()
    })
    .await;
    stop.store(true, Ordering::Release);
    task.await.unwrap();
    producer.shutdown().await;
    println!(
        "new master {new_master} routed {routed:?} after the kill; first acknowledged send {:?}",
        first_ok - killed
    );
    assert!(routed < Duration::from_secs(30), "routing the new master took {routed:?}");
    let acked: Vec<String> = sent.lock().acked.keys().cloned().collect();
    assert_all_on(&new_master, &acked).await;
    println!("{} acknowledged; whole test {:?}", acked.len(), started.elapsed());
}
