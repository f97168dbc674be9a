//! `Admin`'s `*_per_broker` calls against a real two-broker stack with one broker killed:
//! every call returns the live broker's answer next to a failure naming the dead one.

use std::collections::BTreeSet;
use std::time::Duration;

use mq_client::admin::{BrokerRef, PerBroker};
use mq_client::Admin;
use mq_common::protocol::body::{SubscriptionGroupConfig, TopicConfig};
use mq_test_support::{Stack, StackOptions};

/// The one failure of `r` is broker-b at `dead`, and broker-a answered.
fn only_b_failed<T>(what: &str, r: &PerBroker<T>, dead: &str) {
    let ok: Vec<&str> = r.ok.iter().map(|(b, _)| b.name.as_str()).collect();
    assert_eq!(ok, vec!["broker-a"], "{what}: answers");
    assert_eq!(r.failed.len(), 1, "{what}: failures {:?}", r.failed);
    assert_eq!(
        (r.failed[0].broker.name.as_str(), r.failed[0].broker.addr.as_str()),
        ("broker-b", dead),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_broker_calls_answer_around_a_dead_broker() {
    let mut stack = Stack::start(StackOptions::default().brokers(&["broker-a", "broker-b"])).await;
    stack.create_topic("PerBrokerTopic", 2).await;
    let admin = Admin::with_timeout(&stack.namesrv_addr, Duration::from_secs(2)).await.unwrap();

    let all = admin.brokers(false).await.unwrap();
    assert_eq!(
        all.iter().map(|b| (b.name.as_str(), b.id)).collect::<Vec<_>>(),
        vec![("broker-a", 0), ("broker-b", 0)]
    );
    let masters = admin.brokers(true).await.unwrap();
    assert_eq!(masters, all);

    // Writes on both while both live.
    let group = "per_broker_group";
    let created = admin
        .create_subscription_group_per_broker(masters.clone(), &SubscriptionGroupConfig::new(group))
        .await;
    assert_eq!((created.ok.len(), created.failed.len()), (2, 0));
    let t = admin
        .create_topic_per_broker(masters.clone(), &TopicConfig::new("PerBrokerTopic2", 2, 6))
        .await
        .unwrap();
    assert_eq!((t.ok.len(), t.failed.len()), (2, 0));
    assert!(
        admin
            .create_topic_per_broker(masters.clone(), &TopicConfig::new("bad topic", 2, 6))
            .await
            .is_err(),
        "invalid name rejected before any call"
    );

    let dead = stack.broker_addr_of("broker-b");
    stack.kill_broker("broker-b");
    // The broker list from before the kill: the nameserver drops a broker whose connection
    // closed, while a crashed host (no FIN) stays registered; both must be reported the same.
    let runtime = admin.broker_runtime_info_per_broker(all.clone()).await;
    only_b_failed("runtime", &runtime, &dead);
    assert!(
        runtime.ok[0].1.contains_key("brokerVersionDesc")
            || runtime.ok[0].1.contains_key("msgPutTotalTodayNow"),
        "{:?}",
        runtime.ok[0].1
    );
    assert!(runtime.failed[0].to_string().contains("broker-b"));
    eprintln!("dead broker reported as: {}", runtime.failed[0]);

    let topics = admin.topic_configs_per_broker(masters.clone()).await;
    only_b_failed("topic configs", &topics, &dead);
    assert!(topics.ok[0].1.contains_key("PerBrokerTopic"));

    let groups = admin.subscription_groups_per_broker(masters.clone()).await;
    only_b_failed("groups", &groups, &dead);
    assert!(groups.ok[0].1.contains_key(group));

    let stats = admin.consume_stats_per_broker(group, None, masters.clone()).await;
    only_b_failed("consume stats", &stats, &dead);
    let conns = admin.consumer_connection_per_broker(group, masters.clone()).await;
    only_b_failed("consumer connections", &conns, &dead);
    assert!(conns.ok[0].1.is_none(), "no member online is an answer, not a failure");
    let prods =
        admin.producer_connection_per_broker("no_such_producer_group", masters.clone()).await;
    only_b_failed("producer connections", &prods, &dead);

    let deleted = admin.delete_subscription_group_per_broker(masters.clone(), group, true).await;
    only_b_failed("delete group", &deleted, &dead);
    let deleted = admin.delete_topic_per_broker(masters.clone(), "PerBrokerTopic2").await;
    only_b_failed("delete topic", &deleted, &dead);

    // Through the nameserver: once it dropped broker-b, the topic's route has broker-a only.
    let live: Vec<BrokerRef> = admin.brokers(true).await.unwrap();
    assert!(live.iter().all(|b| b.name == "broker-a" || b.name == "broker-b"));
    let by = admin.topic_consumed_by_per_broker("PerBrokerTopic").await.unwrap();
    assert!(by.ok.iter().any(|(b, _)| b.name == "broker-a"));
    let _: BTreeSet<String> = admin.topic_consumed_by("PerBrokerTopic").await.unwrap();
    admin.close();
}
