//! Every listed `mqadmin` subcommand answers against a running stack.

mod common;

use std::process::Command;
use std::time::Duration;

use common::wait_until;
use mq_client::{ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer};

fn mqadmin(ns: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .args(["-n", ns])
        .output()
        .expect("run mqadmin");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn ok(ns: &str, args: &[&str], expect: &str) -> String {
    let (success, text) = mqadmin(ns, args);
    assert!(success, "mqadmin {args:?} failed:\n{text}");
    assert!(text.contains(expect), "mqadmin {args:?}: expected '{expect}' in:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subcommand_answers() {
    let stack = common::stack().await;
    let ns = stack.namesrv_addr.clone();
    let b = stack.broker_addr.clone();

    ok(&ns, &["updateTopic", "-b", &b, "-t", "AdminTopic", "-r", "4", "-w", "4"], "success");
    ok(&ns, &["updateTopic", "-c", "TestCluster", "-t", "AdminTopic2"], "success");
    let admin = mq_client::Admin::connect(&ns).await.unwrap();
    wait_until("AdminTopic route", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move { admin.topic_route("AdminTopic").await.is_ok() }
    })
    .await;
    ok(&ns, &["topicList"], "AdminTopic");
    ok(&ns, &["topicList", "-c"], "#Consumer Group");
    let list = ok(&ns, &["topicList", "--json"], "AdminTopic");
    assert!(serde_json::from_str::<Vec<String>>(&list).is_ok(), "{list}");
    ok(&ns, &["brokerStatus", "-c", "TestCluster"], "brokerName");
    ok(&ns, &["clusterList", "-c", "TestCluster", "--json"], "\"brokerName\"");
    ok(&ns, &["topicRoute", "-t", "AdminTopic"], "broker-a");
    ok(&ns, &["topicRoute", "-t", "AdminTopic", "-l"], "#BrokerName");
    ok(&ns, &["clusterList"], "TestCluster");
    ok(&ns, &["clusterList", "-m"], "#InTotalToday");
    ok(&ns, &["brokerStatus", "-b", &b], "brokerName");
    ok(&ns, &["getBrokerConfig", "-b", &b], "brokerName");
    ok(&ns, &["updateBrokerConfig", "-b", &b, "-k", "maxMessageSize", "-v", "4194304"], "success");
    ok(&ns, &["updateSubGroup", "-b", &b, "-g", "admin_group"], "success");

    let send = ok(
        &ns,
        &["sendMessage", "-t", "AdminTopic", "-p", "hello admin", "-k", "admin-key", "-c", "TagX"],
        "SEND_OK",
    );
    let json =
        ok(&ns, &["sendMessage", "-t", "AdminTopic", "-p", "second", "--json"], "offsetMsgId");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let offset_id = v["offsetMsgId"].as_str().unwrap().to_string();
    let uniq = v["msgId"].as_str().unwrap().to_string();
    assert!(send.contains("#Broker Name"));
    ok(&ns, &["topicStatus", "-t", "AdminTopic"], "#Max Offset");
    ok(&ns, &["queryMsgById", "-i", &offset_id], "second");
    ok(&ns, &["queryMsgByUniqueKey", "-t", "AdminTopic", "-i", &uniq], "second");
    wait_until("index", Duration::from_secs(10), || {
        let ns = ns.clone();
        async move {
            mqadmin(&ns, &["queryMsgByKey", "-t", "AdminTopic", "-k", "admin-key"])
                .1
                .lines()
                .count()
                > 1
        }
    })
    .await;
    let qid = v["queueId"].as_i64().unwrap().to_string();
    let qoff = v["queueOffset"].as_i64().unwrap().to_string();
    ok(
        &ns,
        &["queryMsgByOffset", "-t", "AdminTopic", "-b", "broker-a", "-i", &qid, "-o", &qoff],
        "second",
    );
    ok(&ns, &["consumeMessage", "-t", "AdminTopic", "-c", "10"], "Consumed 2 messages");
    ok(&ns, &["printMsg", "-t", "AdminTopic"], "hello admin");

    // A live consumer and producer for the group/connection views.
    let c = PushConsumer::builder()
        .namesrv_addr(&ns)
        .group("admin_group")
        .subscribe("AdminTopic", "*")
        .consume_from(ConsumeFromWhere::First)
        .persist_interval(Duration::from_millis(200))
        .start(|_m: MessageExt| async move { Ok(()) })
        .await
        .unwrap();
    let p = Producer::builder().namesrv_addr(&ns).group("admin_producer").start().await.unwrap();
    p.send(Message::new("AdminTopic", "third")).await.unwrap();
    wait_until("group progress", Duration::from_secs(20), || {
        let ns = ns.clone();
        async move {
            mqadmin(&ns, &["consumerProgress", "-g", "admin_group"]).1.contains("Diff Total: 0")
        }
    })
    .await;
    ok(&ns, &["consumerProgress"], "admin_group");
    ok(&ns, &["consumerProgress", "-g", "admin_group", "-s"], "#Client IP");
    ok(&ns, &["consumerConnection", "-g", "admin_group"], c.client_id());
    ok(&ns, &["producerConnection", "-g", "admin_producer", "-t", "AdminTopic"], p.client_id());
    ok(&ns, &["consumerStatus", "-g", "admin_group"], "subscriptionSet");
    ok(
        &ns,
        &["queryMsgById", "-i", &offset_id, "-g", "admin_group", "-d", c.client_id()],
        "CR_SUCCESS",
    );
    ok(&ns, &["resetOffsetByTime", "-g", "admin_group", "-t", "AdminTopic", "-s", "0"], "#offset");
    ok(&ns, &["statsAll", "-t", "AdminTopic"], "admin_group");
    ok(&ns, &["topicClusterList", "-t", "AdminTopic"], "TestCluster");
    ok(
        &ns,
        &["updateKvConfig", "-s", "ORDER_TOPIC_CONFIG", "-k", "AdminTopic", "-v", "broker-a:4"],
        "success",
    );
    ok(&ns, &["deleteKvConfig", "-s", "ORDER_TOPIC_CONFIG", "-k", "AdminTopic"], "success");
    c.shutdown().await;
    p.shutdown().await;

    ok(&ns, &["deleteSubGroup", "-b", &b, "-g", "admin_group"], "success");
    ok(&ns, &["deleteTopic", "-t", "AdminTopic2", "-c", "TestCluster"], "success");
    let (success, text) = mqadmin(&ns, &["topicRoute", "-t", "NoSuchTopic"]);
    assert!(!success && text.contains("NoSuchTopic"), "{text}");
    let (success, _) = mqadmin(&ns, &["updateTopic", "-t", "X"]);
    assert!(!success, "missing -b/-c must fail");
}
