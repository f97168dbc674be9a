//! ACL 1.0 against real `mqnamesrv` + `mqbroker` processes with `aclEnable=true`: signed
//! clients are allowed and refused exactly as `plain_acl.yml` says, every admin-only request
//! needs an admin account on the broker and on the name server, a denied request changes
//! nothing, and a changed ACL file is taken under load without failing a still-allowed client.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{wait_until, Stack, StackOptions};
use mq_client::{ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer};
use mq_common::acl::{Credentials, DENIAL_PREFIX};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};

const WAIT: Duration = Duration::from_secs(20);
const ADMIN: (&str, &str) = ("rmqadmin1", "admin-secret-1");
const USER: (&str, &str) = ("rmquser01", "user-secret-1");

fn acl_file(extra: &str) -> String {
    format!(
        r#"{extra}
accounts:
  - accessKey: {}
    secretKey: {}
    admin: true
  - accessKey: {}
    secretKey: {}
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclTopic=PUB|SUB
      - DenyTopic=DENY
      - PubOnly=PUB
    groupPerms:
      - DeniedGroup=DENY
"#,
        ADMIN.0, ADMIN.1, USER.0, USER.1
    )
}

async fn acl_stack(file: &std::path::Path) -> Stack {
    std::fs::write(file, acl_file("")).unwrap();
    let path = file.display().to_string();
    let opts = StackOptions::default()
        .namesrv_set("aclEnable", "true")
        .namesrv_set("aclFilePath", &path)
        .namesrv_set("aclReloadIntervalMillis", "100")
        .broker_sets(&[
            ("aclEnable", "true"),
            ("aclFilePath", &path),
            ("aclReloadIntervalMillis", "100"),
            // The broker signs its registrations with the admin account.
            ("accessKey", ADMIN.0),
            ("secretKey", ADMIN.1),
        ])
        .credentials(ADMIN.0, ADMIN.1);
    Stack::start(opts).await
}

async fn producer(stack: &Stack, creds: Option<(&str, &str)>, group: &str) -> Producer {
    let mut b = Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group(group)
        .retries(0)
        .send_timeout(Duration::from_secs(5));
    b = match creds {
        Some((ak, sk)) => b.credentials(ak, sk),
        None => b.client_options(mq_client::options::ClientOptions {
            namesrv_addrs: vec![stack.namesrv_addr.clone()],
            credentials: None,
            ..Default::default()
        }),
    };
    b.start().await.expect("producer starts")
}

/// The ACL denial text of a failed send, or a panic if it was not a denial.
async fn denied(p: &Producer, topic: &str) -> String {
    let e = p.send(Message::new(topic, "x")).await.expect_err("must be refused");
    let text = e.to_string();
    assert_eq!(e.code(), Some(response::SYSTEM_ERROR), "{text}");
    let at = text.find(DENIAL_PREFIX).unwrap_or_else(|| panic!("not an ACL denial: {text}"));
    text[at + DENIAL_PREFIX.len()..].to_string()
}

fn raw(creds: Option<(&str, &str)>) -> RemotingClient {
    RemotingClient::new(ClientConfig {
        credentials: creds.map(|(a, s)| Credentials::new(a, s)),
        ..Default::default()
    })
}

fn remark(r: &RemotingCommand) -> &str {
    r.remark.as_deref().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_clients_admin_codes_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain_acl.yml");
    let stack = acl_stack(&file).await;
    // Registration worked: the stack waits until the signed broker is routed.
    stack.create_topic("AclTopic", 4).await;
    stack.create_topic("DenyTopic", 4).await;
    stack.create_topic("PubOnly", 4).await;

    // --- producers: allowed and refused exactly as configured
    let user = producer(&stack, Some(USER), "acl_pg").await;
    user.send(Message::new("AclTopic", "signed")).await.expect("signed send is allowed");
    user.send(Message::new("PubOnly", "signed")).await.expect("PUB is enough to send");
    assert_eq!(denied(&user, "DenyTopic").await, "No default permission for topic:DenyTopic");
    let unsigned = producer(&stack, None, "acl_pg_unsigned").await;
    assert_eq!(denied(&unsigned, "AclTopic").await, "No accessKey is configured");
    let wrong = producer(&stack, Some((USER.0, "not-the-secret")), "acl_pg_wrong").await;
    assert_eq!(
        denied(&wrong, "AclTopic").await,
        format!("Check signature failed for accessKey={}", USER.0)
    );
    let unknown = producer(&stack, Some(("nobody123", "whatever1")), "acl_pg_unknown").await;
    assert_eq!(denied(&unknown, "AclTopic").await, "No acl config for nobody123");

    // --- consumers: SUB on the topic and the group
    let got = Arc::new(AtomicU64::new(0));
    let g = got.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .credentials(USER.0, USER.1)
        .group("acl_cg")
        .subscribe("AclTopic", "*")
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
    wait_until("the signed consumer receives the message", WAIT, || {
        let got = got.clone();
        async move { got.load(Ordering::Relaxed) >= 1 }
    })
    .await;
    consumer.shutdown().await;
    // A pull for a PUB-only topic, and one from a denied group, are refused.
    let user_raw = raw(Some(USER));
    for (topic, group, want) in [
        ("PubOnly", "acl_cg", "No default permission for topic:PubOnly"),
        ("AclTopic", "DeniedGroup", "No default permission for group:DeniedGroup"),
    ] {
        let pull = RemotingCommand::request(rq::PULL_MESSAGE)
            .with_ext("consumerGroup", group)
            .with_ext("topic", topic)
            .with_ext("queueId", 0)
            .with_ext("queueOffset", 0)
            .with_ext("maxMsgNums", 1)
            .with_ext("sysFlag", 0)
            .with_ext("commitOffset", 0)
            .with_ext("suspendTimeoutMillis", 0)
            .with_ext("subVersion", 0);
        let r = user_raw.invoke(&stack.broker_addr, pull, WAIT).await.unwrap();
        assert_eq!(remark(&r), format!("{DENIAL_PREFIX}{want}"));
    }

    reads_by_id_and_offset(&stack).await;
    end_transaction_needs_pub(&stack).await;
    admin_codes(&stack).await;
    reload_under_load(&stack, &file, &user).await;
}

/// END_TRANSACTION names no topic, only the half message's commit-log offset: committing it
/// needs PUB on the half message's real topic. A user without it is refused and the message
/// stays unpublished; the same user commits a half message of a topic it may publish to.
async fn end_transaction_needs_pub(stack: &Stack) {
    const GROUP: &str = "acl_tx_pg";
    let admin = producer(stack, Some(ADMIN), GROUP).await;
    let half = |topic: &str| {
        let mut m = Message::new(topic, format!("half for {topic}"));
        m.put_property("TRAN_MSG", "true");
        m.put_property("PGROUP", GROUP);
        m
    };
    let offset_of = |id: &str| mq_common::message::decode_offset_msg_id(id).unwrap().1;
    let secret = admin.send(half("DenyTopic")).await.unwrap();
    let open = admin.send(half("AclTopic")).await.unwrap();
    let end = |offset: i64, msg_id: &str| {
        RemotingCommand::request(rq::END_TRANSACTION)
            .with_ext("producerGroup", GROUP)
            .with_ext("tranStateTableOffset", 0)
            .with_ext("commitLogOffset", offset)
            .with_ext("commitOrRollback", 8)
            .with_ext("fromTransactionCheck", false)
            .with_ext("msgId", msg_id)
    };
    let user = raw(Some(USER));
    let r = user
        .invoke(&stack.broker_addr, end(offset_of(&secret.offset_msg_id), &secret.msg_id), WAIT)
        .await
        .unwrap();
    assert_eq!(r.code, response::SYSTEM_ERROR, "{r:?}");
    assert_eq!(remark(&r), format!("{DENIAL_PREFIX}No default permission for topic:DenyTopic"));
    let r = user
        .invoke(&stack.broker_addr, end(offset_of(&open.offset_msg_id), &open.msg_id), WAIT)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    // The committed one is in its topic; the refused one is not in its own.
    let max = |topic: &'static str| {
        let admin_raw = raw(Some(ADMIN));
        async move {
            // Every queue a topic of this test can have (absent ones answer no offset).
            let mut total = 0;
            for queue in 0..16 {
                let cmd = RemotingCommand::request(rq::GET_MAX_OFFSET)
                    .with_ext("topic", topic)
                    .with_ext("queueId", queue);
                let r = admin_raw.invoke(&stack.broker_addr, cmd, WAIT).await.unwrap();
                total += r.ext("offset").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            }
            total
        }
    };
    let before_deny = max("DenyTopic").await;
    wait_until("the committed half message reaches AclTopic", WAIT, || async {
        max("AclTopic").await > 0
    })
    .await;
    assert_eq!(max("DenyTopic").await, before_deny, "a refused commit published its message");
    admin.shutdown().await;
}

/// Reads of stored messages by commit-log offset or id need SUB on the topic of the message
/// actually found: a user without it gets the ACL denial and no message data, whatever topic
/// the request names; one with it gets the message.
async fn reads_by_id_and_offset(stack: &Stack) {
    let admin = producer(stack, Some(ADMIN), "acl_pg_reads").await;
    let keyed = |topic: &str, body: &str, key: &str| {
        let mut m = Message::new(topic, body.to_string());
        m.set_keys([key]);
        m
    };
    let secret = admin.send(keyed("DenyTopic", "secret body", "k-secret")).await.unwrap();
    let open = admin.send(keyed("AclTopic", "open body", "k-open")).await.unwrap();
    let offset_of = |id: &str| mq_common::message::decode_offset_msg_id(id).unwrap().1;
    let (secret_off, open_off) = (offset_of(&secret.offset_msg_id), offset_of(&open.offset_msg_id));
    let user = raw(Some(USER));
    let call = |cmd: RemotingCommand| {
        let user = &user;
        async move { user.invoke(&stack.broker_addr, cmd, WAIT).await.unwrap() }
    };
    let view = |offset: i64, topic: Option<&str>| {
        let cmd = RemotingCommand::request(rq::VIEW_MESSAGE_BY_ID).with_ext("offset", offset);
        match topic {
            Some(t) => cmd.with_ext("topic", t),
            None => cmd,
        }
    };
    let refused = |r: &RemotingCommand, topic: &str, what: &str| {
        assert_eq!(r.code, response::SYSTEM_ERROR, "{what}: {r:?}");
        assert_eq!(remark(r), format!("{DENIAL_PREFIX}No default permission for topic:{topic}"));
        assert!(r.body.is_empty(), "{what}: message data in a denial");
    };
    // By offset: the 4.x form (no topic), a lie about the topic, and the 5.x form naming it.
    refused(&call(view(secret_off, None)).await, "DenyTopic", "view, no topic");
    refused(&call(view(secret_off, Some("AclTopic"))).await, "DenyTopic", "view, other topic");
    refused(&call(view(secret_off, Some("DenyTopic"))).await, "DenyTopic", "view, its topic");
    let r = call(view(open_off, None)).await;
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    assert!(String::from_utf8_lossy(&r.body).contains("open body"));
    // By key and by unique key (QUERY_MESSAGE), and a queue's index (QUERY_CONSUME_QUEUE).
    let query = |topic: &str, key: &str, unique: bool| {
        RemotingCommand::request(rq::QUERY_MESSAGE)
            .with_ext("topic", topic)
            .with_ext("key", key)
            .with_ext("maxNum", 32)
            .with_ext("beginTimestamp", 0)
            .with_ext("endTimestamp", i64::MAX)
            .with_ext("_UNIQUE_KEY_QUERY", unique)
    };
    refused(&call(query("DenyTopic", "k-secret", false)).await, "DenyTopic", "query by key");
    refused(&call(query("DenyTopic", &secret.msg_id, true)).await, "DenyTopic", "query by id");
    refused(&call(query("PubOnly", "k", false)).await, "PubOnly", "query of a PUB-only topic");
    // (The index is written as the log is dispatched: poll until the key is found.)
    let (c, q) = (&call, &query);
    wait_until("the user's query of a readable topic finds the message", WAIT, || async move {
        c(q("AclTopic", "k-open", false)).await.code == response::SUCCESS
    })
    .await;
    // The key of another topic's message finds nothing in this one.
    let r = call(query("AclTopic", "k-secret", false)).await;
    assert_eq!(r.code, response::QUERY_NOT_FOUND, "{r:?}");
    let qcq = RemotingCommand::request(rq::QUERY_CONSUME_QUEUE)
        .with_ext("topic", "DenyTopic")
        .with_ext("queueId", 0)
        .with_ext("index", 0)
        .with_ext("count", 1)
        .with_ext("consumerGroup", "acl_cg");
    refused(&call(qcq).await, "DenyTopic", "query consume queue");
    // A queue's positions, times and committed offsets are the topic's to read as well.
    let queue_read = |code: i32, topic: &str| {
        RemotingCommand::request(code)
            .with_ext("topic", topic)
            .with_ext("queueId", 0)
            .with_ext("timestamp", 0)
            .with_ext("consumerGroup", "acl_cg")
    };
    for code in [
        rq::GET_MAX_OFFSET,
        rq::GET_MIN_OFFSET,
        rq::GET_EARLIEST_MSG_STORETIME,
        rq::SEARCH_OFFSET_BY_TIMESTAMP,
        rq::QUERY_CONSUMER_OFFSET,
    ] {
        refused(&call(queue_read(code, "DenyTopic")).await, "DenyTopic", &format!("code {code}"));
        refused(&call(queue_read(code, "PubOnly")).await, "PubOnly", &format!("code {code}"));
        let r = call(queue_read(code, "AclTopic")).await;
        assert!(!remark(&r).starts_with(DENIAL_PREFIX), "code {code} on a readable topic: {r:?}");
    }
    let r = call(queue_read(rq::GET_MAX_OFFSET, "AclTopic")).await;
    assert_eq!(r.code, response::SUCCESS, "{r:?}");
    // Copying the secret message into the user's own retry topic (to consume it there).
    let back = RemotingCommand::request(rq::CONSUMER_SEND_MSG_BACK)
        .with_ext("offset", secret_off)
        .with_ext("group", "acl_cg")
        .with_ext("delayLevel", 0)
        .with_ext("originMsgId", &secret.msg_id)
        .with_ext("originTopic", "AclTopic")
        .with_ext("maxReconsumeTimes", 16);
    refused(&call(back).await, "DenyTopic", "send back of another topic's message");
    // The client library's lookup (mqadmin queryMsgById, the console) gets the denial too.
    let user_admin = mq_client::Admin::with_security(
        vec![stack.namesrv_addr.clone()],
        WAIT,
        Some(Credentials::new(USER.0, USER.1)),
        None,
    )
    .unwrap();
    let e = user_admin.query_msg_by_id(None, &secret.offset_msg_id).await;
    assert!(e.as_ref().map_or(true, |v| v.is_empty()), "message data leaked: {e:?}");
    admin.shutdown().await;
}

/// Every admin-only request on the broker and the name server: unsigned → no key; a signed
/// non-admin → "Need admin permission"; the admin → past the check (whatever the handler
/// then says). Denied destructive requests leave the state alone.
async fn admin_codes(stack: &Stack) {
    let (none, user, admin) = (raw(None), raw(Some(USER)), raw(Some(ADMIN)));
    let broker_codes: Vec<RemotingCommand> = vec![
        RemotingCommand::request(rq::UPDATE_AND_CREATE_TOPIC)
            .with_ext("topic", "AdminMade")
            .with_ext("defaultTopic", "TBW102")
            .with_ext("readQueueNums", 1)
            .with_ext("writeQueueNums", 1)
            .with_ext("perm", 6)
            .with_ext("topicFilterType", "SINGLE_TAG"),
        RemotingCommand::request(rq::DELETE_TOPIC_IN_BROKER).with_ext("topic", "AclTopic"),
        RemotingCommand::request(rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
            .with_body(&br#"{"groupName":"admin_made_group"}"#[..]),
        RemotingCommand::request(rq::DELETE_SUBSCRIPTIONGROUP).with_ext("groupName", "acl_cg"),
        RemotingCommand::request(rq::UPDATE_BROKER_CONFIG).with_body(&b"brokerPermission=2"[..]),
        RemotingCommand::request(rq::GET_BROKER_CONFIG),
        RemotingCommand::request(rq::INVOKE_BROKER_TO_RESET_OFFSET)
            .with_ext("topic", "AclTopic")
            .with_ext("group", "acl_cg")
            .with_ext("timestamp", 0)
            .with_ext("isForce", true),
        RemotingCommand::request(rq::TRIGGER_DELETE_FILES),
        RemotingCommand::request(rq::GET_ALL_TOPIC_CONFIG),
        RemotingCommand::request(rq::GET_TOPIC_CONFIG_LIST),
        RemotingCommand::request(rq::GET_ALL_CONSUMER_OFFSET),
        RemotingCommand::request(rq::GET_ALL_DELAY_OFFSET),
        RemotingCommand::request(rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
        RemotingCommand::request(rq::UPDATE_AND_CREATE_ACL_CONFIG),
        RemotingCommand::request(rq::DELETE_ACL_CONFIG),
        RemotingCommand::request(rq::GET_BROKER_CLUSTER_ACL_INFO),
        RemotingCommand::request(rq::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG),
        RemotingCommand::request(rq::GET_BROKER_CLUSTER_ACL_CONFIG),
    ];
    let namesrv_codes: Vec<RemotingCommand> = vec![
        // A fake broker trying to take over AclTopic's route.
        RemotingCommand::request(rq::REGISTER_BROKER)
            .with_ext("brokerName", "broker-a")
            .with_ext("brokerAddr", "127.0.0.1:1")
            .with_ext("clusterName", "TestCluster")
            .with_ext("haServerAddr", "127.0.0.1:2")
            .with_ext("brokerId", 0)
            .with_body(&br#"{"topicConfigSerializeWrapper":{"topicConfigTable":{}}}"#[..]),
        RemotingCommand::request(rq::UNREGISTER_BROKER)
            .with_ext("brokerName", "broker-a")
            .with_ext("brokerAddr", stack.broker_addr.as_str())
            .with_ext("clusterName", "TestCluster")
            .with_ext("brokerId", 0),
        RemotingCommand::request(rq::BROKER_HEARTBEAT)
            .with_ext("clusterName", "TestCluster")
            .with_ext("brokerAddr", "127.0.0.1:1")
            .with_ext("brokerName", "nobody"),
        RemotingCommand::request(rq::PUT_KV_CONFIG)
            .with_ext("namespace", "ns")
            .with_ext("key", "k")
            .with_ext("value", "v"),
        RemotingCommand::request(rq::DELETE_KV_CONFIG)
            .with_ext("namespace", "ns")
            .with_ext("key", "nothing"),
        RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV).with_ext("topic", "AclTopic"),
        RemotingCommand::request(rq::REGISTER_TOPIC_IN_NAMESRV)
            .with_ext("topic", "Nope")
            .with_body(&br#"{"topicRouteData":null}"#[..]),
        RemotingCommand::request(rq::WIPE_WRITE_PERM_OF_BROKER).with_ext("brokerName", "broker-a"),
        RemotingCommand::request(rq::ADD_WRITE_PERM_OF_BROKER).with_ext("brokerName", "nobody"),
        RemotingCommand::request(rq::UPDATE_NAMESRV_CONFIG)
            .with_body(&b"orderMessageEnable=true"[..]),
        RemotingCommand::request(rq::GET_NAMESRV_CONFIG),
    ];
    for (addr, cmds) in [(&stack.broker_addr, &broker_codes), (&stack.namesrv_addr, &namesrv_codes)]
    {
        for cmd in cmds {
            let code = cmd.code;
            let r = none.invoke(addr, cmd.clone(), WAIT).await.unwrap();
            assert_eq!(
                remark(&r),
                format!("{DENIAL_PREFIX}No accessKey is configured"),
                "unsigned code {code} at {addr}"
            );
            let r = user.invoke(addr, cmd.clone(), WAIT).await.unwrap();
            assert_eq!(
                remark(&r),
                format!(
                    "{DENIAL_PREFIX}Need admin permission for request code={code}, but accessKey={} is not",
                    USER.0
                ),
                "non-admin code {code} at {addr}"
            );
        }
    }
    // Nothing the denied requests asked for happened: the route still points at the real
    // broker, AclTopic still exists and is writable, the group's members are intact.
    let route = stack.admin().topic_route("AclTopic").await.expect("route survives");
    assert!(route.broker_datas.iter().any(|b| b.master_addr() == Some(stack.broker_addr.as_str())));
    assert!(route.queue_datas.iter().all(|q| q.perm == 6), "write perm not wiped: {route:?}");
    let p = producer(stack, Some(USER), "acl_pg_after").await;
    p.send(Message::new("AclTopic", "still writable")).await.expect("broker still writable");
    // The admin gets past the check for each code (answers vary; never an ACL denial).
    // Destructive ones are run last against harmless targets.
    for (addr, cmds) in [(&stack.broker_addr, &broker_codes), (&stack.namesrv_addr, &namesrv_codes)]
    {
        for cmd in cmds {
            let harmless = match cmd.code {
                rq::DELETE_TOPIC_IN_BROKER | rq::DELETE_TOPIC_IN_NAMESRV => {
                    RemotingCommand::request(cmd.code).with_ext("topic", "NoSuchTopic")
                }
                rq::UPDATE_BROKER_CONFIG => cmd.clone().with_body(&b"brokerPermission=6"[..]),
                rq::UNREGISTER_BROKER | rq::WIPE_WRITE_PERM_OF_BROKER => {
                    let mut c = cmd.clone();
                    c.ext_fields.insert_str("brokerName", "nobody");
                    c
                }
                rq::REGISTER_BROKER => {
                    let mut c = cmd.clone();
                    c.ext_fields.insert_str("brokerName", "fake-but-admin");
                    c
                }
                _ => cmd.clone(),
            };
            let r = admin.invoke(addr, harmless, WAIT).await.unwrap();
            assert!(
                !remark(&r).starts_with(DENIAL_PREFIX),
                "admin code {} at {addr}: {r:?}",
                cmd.code
            );
        }
    }
    // UPDATE_BROKER_CONFIG never takes a path, not even from the admin.
    let r = admin
        .invoke(
            &stack.broker_addr,
            RemotingCommand::request(rq::UPDATE_BROKER_CONFIG)
                .with_body(&b"storePathRootDir=/tmp/evil\nbrokerPermission=6"[..]),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(r.code, response::NO_PERMISSION, "{r:?}");
    assert!(remark(&r).contains("storePathRootDir"), "{r:?}");
    // GET_BROKER_CONFIG masks the broker's own secret.
    let r = admin
        .invoke(&stack.broker_addr, RemotingCommand::request(rq::GET_BROKER_CONFIG), WAIT)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("secretKey=****") && !text.contains(ADMIN.1), "{text}");
}

/// Rewrite the ACL file while a still-allowed producer sends: no send fails; the new
/// account works once reloaded; a broken file keeps the last good one; an IP white list
/// lets unsigned clients in.
async fn reload_under_load(stack: &Stack, file: &std::path::Path, user: &Producer) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (p, stop, sent, failed) = (user.clone(), stop.clone(), sent.clone(), failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match p.send(Message::new("AclTopic", "under reload")).await {
                    Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("send failed during reload: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        })
    };
    let newcomer = producer(stack, Some(("newcomer1", "newcomer-secret")), "acl_pg_new").await;
    assert_eq!(denied(&newcomer, "AclTopic").await, "No acl config for newcomer1");
    let with_newcomer = acl_file("").replace(
        "accounts:\n",
        "accounts:\n  - accessKey: newcomer1\n    secretKey: newcomer-secret\n    defaultTopicPerm: PUB\n",
    );
    for round in 0..3 {
        // Broken, then good, a few times, while the load runs.
        std::fs::write(file, "accounts: [\n").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let next = if round % 2 == 0 { with_newcomer.clone() } else { acl_file("") };
        std::fs::write(file, next).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    std::fs::write(file, &with_newcomer).unwrap();
    wait_until("the new account is accepted after the reload", WAIT, || {
        let p = newcomer.clone();
        async move { p.send(Message::new("AclTopic", "new")).await.is_ok() }
    })
    .await;
    // A broken file: the last good one (with the newcomer) stays in force.
    std::fs::write(file, "accounts:\n  - accessKey: short\n").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    newcomer.send(Message::new("AclTopic", "still in")).await.expect("last good file stays");
    // IP white list: unsigned clients from 127.0.0.1 are let in once it is listed.
    let unsigned = producer(stack, None, "acl_pg_unsigned2").await;
    std::fs::write(file, acl_file("globalWhiteRemoteAddresses: [127.0.0.1]")).unwrap();
    wait_until("the white-listed address needs no key", WAIT, || {
        let p = unsigned.clone();
        async move { p.send(Message::new("DenyTopic", "white")).await.is_ok() }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert!(sent.load(Ordering::Relaxed) > 10, "the load ran");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "a still-allowed client saw a failure");
}

/// A server with `aclEnable=true` and no usable ACL file refuses to start, saying why.
#[test]
fn no_start_without_a_valid_acl_file() {
    let bin = mq_test_support::ensure_bins(&["mqnamesrv"]).join("mqnamesrv");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("plain_acl.yml");
    std::fs::write(&bad, "accounts:\n  - accessKey: short\n    secretKey: x\n").unwrap();
    for file in [bad.clone(), dir.path().join("missing.yml")] {
        let out = std::process::Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--set", "aclEnable=true"])
            .arg("--set")
            .arg(format!("aclFilePath={}", file.display()))
            .arg("--set")
            .arg(format!("kvConfigPath={}", dir.path().join("kv.json").display()))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
    }
}
