//! rocketmq-client-rust 1.0 (crates.io, unmodified) against mqnamesrv + mqbroker.
//!
//! One subcommand per scenario; `scripts/interop-rust.sh` starts the stack, creates the topics
//! and runs them in order. Each prints `ok: ...` lines and exits non-zero on the first failure;
//! every wait has a deadline (`--timeout` seconds, default 60).
//!
//! ```text
//! rmq-interop-rust-client send     NAMESRV TOPIC N        sync/async/oneway sends, tags + keys + property a=i
//! rmq-interop-rust-client push     NAMESRV TOPIC GROUP N  clustering push consumer gets all N exactly (tags, keys)
//! rmq-interop-rust-client orderly  NAMESRV TOPIC GROUP N  key-selected sends, orderly consumer sees each key in order
//! rmq-interop-rust-client consume  NAMESRV TOPIC GROUP FROM TO  push consumer must get bodies FROM..TO and nothing older
//! rmq-interop-rust-client sql      NAMESRV TOPIC GROUP    SQL92-filtered consumer gets exactly the matching messages
//! rmq-interop-rust-client admin    NAMESRV TOPIC GROUP    admin bodies (cluster, route, stats, configs, runtime
//!                                                         info, connections) decode with the client's strict 5.x types
//! ```
//! Bodies are `"<run>-<i>"` so a scenario can tell its messages from any other.
//!
//! Security, from the environment (the names rmq's own clients read): `RMQ_TLS_CA=<pem>`
//! turns the client's TLS on (`ClientConfig::set_use_tls`, server verified against that CA;
//! needs rocketmq-transport's `tls` feature, which Cargo.toml turns on: the client crate
//! itself depends on the transport with `default-features = false`), and
//! `RMQ_ACCESS_KEY`/`RMQ_SECRET_KEY` make every request signed (`AclClientRPCHook`).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{
    AclClientRPCHook, ClientConfig, ClientError, SessionCredentials, ClientResult, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext,
    ConsumeConcurrentlyStatus, ConsumeOrderlyContext, ConsumeOrderlyStatus, DefaultMQProducer,
    DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently, MessageListenerOrderly,
    MessageSelector,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::common::message::MessageTrait;
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

type Res<T> = Result<T, String>;

/// The client library's runtime (it owns its threads and telemetry).
struct Runtime {
    owner: RuntimeOwner,
    client: Arc<ClientRuntime>,
    telemetry: rocketmq_observability::TelemetryRuntimeGuard,
}

impl Runtime {
    /// Stop the client's tasks in order (dropping them instead logs a long report).
    async fn shutdown(self) {
        let _ = self.client.shutdown().await;
        let _ = self.owner.shutdown_tasks().await;
        let _ = self.owner.shutdown_background();
        let _ = self.telemetry.shutdown();
    }
}

fn runtime() -> Res<Runtime> {
    let owner = RuntimeOwner::plan(RuntimeConfig {
        thread_name: "rmq-interop".into(),
        ..Default::default()
    })
    .map_err(|e| format!("runtime plan: {e}"))?
    .build()
    .map_err(|e| format!("runtime build: {e}"))?;
    let telemetry = rocketmq_observability::install_global(
        &rocketmq_observability::TelemetryBootstrapConfig::default(),
    )
    .map_err(|e| format!("telemetry: {e}"))?;
    let client = ClientRuntime::try_new(
        owner.root_context().component("client"),
        ClientRuntimeConfig::default(),
        telemetry.handle(),
    )
    .map_err(|e| format!("client runtime: {e}"))?;
    Ok(Runtime { owner, client, telemetry })
}

/// TLS and credentials from the environment (see the module doc).
struct Security {
    tls_ca: Option<String>,
    hook: Option<Arc<AclClientRPCHook>>,
}

impl Security {
    fn from_env() -> Security {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let hook = match (var("RMQ_ACCESS_KEY"), var("RMQ_SECRET_KEY")) {
            (Some(ak), Some(sk)) => {
                Some(Arc::new(AclClientRPCHook::new(SessionCredentials::with_keys(ak, sk))))
            }
            _ => None,
        };
        Security { tls_ca: var("RMQ_TLS_CA"), hook }
    }

    /// A client configuration with TLS on when asked for (the name server is set after it).
    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::default();
        if let Some(ca) = &self.tls_ca {
            c.set_use_tls(true);
            c.set_tls_client_trust_cert_path(ca.clone());
        }
        c
    }

    fn describe(&self) -> String {
        format!(
            "tls={} signed={}",
            self.tls_ca.is_some(),
            self.hook.is_some()
        )
    }
}

fn cerr(what: &str) -> impl Fn(ClientError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

struct Args {
    ns: String,
    rest: Vec<String>,
    timeout: Duration,
}

impl Args {
    fn get(&self, i: usize, name: &str) -> Res<&str> {
        self.rest.get(i).map(String::as_str).ok_or_else(|| format!("missing argument {name}"))
    }

    fn num(&self, i: usize, name: &str) -> Res<usize> {
        self.get(i, name)?.parse().map_err(|_| format!("{name} must be a number"))
    }
}

async fn producer(rt: &Runtime, ns: &str, group: &str) -> Res<DefaultMQProducer> {
    let sec = Security::from_env();
    let mut b = DefaultMQProducer::builder(rt.client.clone())
        .client_config(sec.config())
        .producer_group(group.to_string())
        .name_server_addr(ns.to_string());
    if let Some(h) = sec.hook {
        b = b.rpc_hook(h);
    }
    let mut p = b.build();
    p.start().await.map_err(cerr("producer start"))?;
    Ok(p)
}

fn message(topic: &str, tag: &str, key: &str, body: &str, a: usize) -> Res<Message> {
    Message::builder()
        .topic(topic.to_string())
        .tags(tag.to_string())
        .key(key.to_string())
        .raw_property("a", a.to_string())
        .map_err(|e| format!("property: {e}"))?
        .body_slice(body.as_bytes())
        .build()
        .map_err(|e| format!("message: {e}"))
}

/// Sync, async and oneway sends (a third each) of `n` messages: tags TagA/TagB alternating,
/// key `k<i>`, property `a=<i>`, body `send-<i>`.
async fn send(rt: &Runtime, a: &Args) -> Res<()> {
    let topic = a.get(0, "TOPIC")?;
    let n = a.num(1, "N")?;
    let p = producer(rt, &a.ns, "rust_interop_pg").await?;
    let acked = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    for i in 0..n {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let m = message(topic, tag, &format!("k{i}"), &format!("send-{i}"), i)?;
        match i % 3 {
            0 => {
                let r = p.send(m).await.map_err(cerr("sync send"))?;
                let r = r.ok_or("sync send returned no result")?;
                if !format!("{:?}", r.send_status).contains("SendOk") {
                    return Err(format!("sync send {i}: status {:?}", r.send_status));
                }
                acked.fetch_add(1, Ordering::SeqCst);
            }
            1 => {
                let (acked, failed) = (acked.clone(), failed.clone());
                p.send_with_callback(m, move |r, e| match (r, e) {
                    (Some(_), None) => {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    (_, e) => failed.lock().unwrap().push(format!("async send {i}: {e:?}")),
                })
                .await
                .map_err(cerr("async send"))?;
            }
            _ => p.send_oneway(m).await.map_err(cerr("oneway send"))?,
        }
    }
    let want = n - n / 3; // sync + async are acknowledged; oneway is not
    let want_acked = (0..n).filter(|i| i % 3 != 2).count();
    let deadline = Instant::now() + a.timeout;
    while acked.load(Ordering::SeqCst) < want_acked && failed.lock().unwrap().is_empty() {
        if Instant::now() > deadline {
            return Err(format!("only {} of {want_acked} sends acknowledged", acked.load(Ordering::SeqCst)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(f) = failed.lock().unwrap().first() {
        return Err(f.clone());
    }
    let _ = want;
    println!("ok: send: {n} messages to {topic} ({want_acked} acknowledged sync/async, {} oneway)", n - want_acked);
    let mut p = p;
    p.shutdown().await;
    Ok(())
}

/// What a consumer saw: body → (tags, keys, property a, queue id).
#[derive(Default)]
struct Seen {
    bodies: BTreeMap<String, (String, String, String)>,
    deliveries: usize,
}

struct Collect(Arc<Mutex<Seen>>);

fn record(seen: &Mutex<Seen>, m: &MessageExt) {
    let body = m.body().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let tags = m.tags().map(|t| t.to_string()).unwrap_or_default();
    let keys = m.get_keys().map(|k| k.to_string()).unwrap_or_default();
    let prop = m.property(&"a".into()).map(|v| v.to_string()).unwrap_or_default();
    let mut s = seen.lock().unwrap();
    s.deliveries += 1;
    s.bodies.insert(body, (tags, keys, prop));
}

impl MessageListenerConcurrently for Collect {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _ctx: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            record(&self.0, m);
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

async fn push_consumer(
    rt: &Runtime,
    ns: &str,
    topic: &str,
    group: &str,
    selector: MessageSelector,
    seen: Arc<Mutex<Seen>>,
) -> Res<DefaultMQPushConsumer> {
    let sec = Security::from_env();
    let mut c = DefaultMQPushConsumer::builder(rt.client.clone())
        .client_config(sec.config())
        .rpc_hook(sec.hook.map(|h| h as Arc<_>))
        .consumer_group(group.to_string())
        .name_server_addr(ns.to_string())
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    c.subscribe_with_selector(topic, Some(selector)).await.map_err(cerr("subscribe"))?;
    c.register_message_listener_concurrently(Collect(seen));
    c.start().await.map_err(cerr("consumer start"))?;
    Ok(c)
}

/// Wait until `done(seen)` or the deadline.
async fn wait_for(seen: &Mutex<Seen>, timeout: Duration, what: &str, done: impl Fn(&Seen) -> bool) -> Res<()> {
    let deadline = Instant::now() + timeout;
    loop {
        {
            let s = seen.lock().unwrap();
            if done(&s) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}: {} distinct messages, {} deliveries", s.bodies.len(), s.deliveries));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn bodies(prefix: &str, range: std::ops::Range<usize>) -> BTreeSet<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// A clustering push consumer subscribed to `TagA || TagB` receives all N messages of `send`,
/// with their tags, keys and property.
async fn push(rt: &Runtime, a: &Args) -> Res<()> {
    let (topic, group, n) = (a.get(0, "TOPIC")?, a.get(1, "GROUP")?, a.num(2, "N")?);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut c = push_consumer(rt, &a.ns, topic, group, MessageSelector::by_tag("TagA || TagB"), seen.clone()).await?;
    let want = bodies("send", 0..n);
    let r = wait_for(&seen, a.timeout, "all sent messages", |s| want.iter().all(|b| s.bodies.contains_key(b))).await;
    c.shutdown().await;
    r?;
    let s = seen.lock().unwrap();
    for i in 0..n {
        let (tags, keys, prop) = &s.bodies[&format!("send-{i}")];
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        if tags != tag || keys != &format!("k{i}") || prop != &i.to_string() {
            return Err(format!("message {i}: tags {tags:?} keys {keys:?} a={prop:?}"));
        }
    }
    println!("ok: push: {n} messages received ({} deliveries) with tags, keys and properties", s.deliveries);
    Ok(())
}

/// Orderly listener: per key, the sequence numbers it saw, in delivery order.
struct Ordered(Arc<Mutex<BTreeMap<String, Vec<usize>>>>, Arc<AtomicUsize>);

impl MessageListenerOrderly for Ordered {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        ctx: &mut ConsumeOrderlyContext,
    ) -> ClientResult<ConsumeOrderlyStatus> {
        ctx.set_auto_commit(true);
        for m in msgs {
            let body = m.body().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            // body = "order-<key>-<seq>"
            let mut parts = body.rsplitn(2, '-');
            let seq: usize = parts.next().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
            let key = parts.next().unwrap_or_default().to_string();
            self.0.lock().unwrap().entry(key).or_default().push(seq);
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        Ok(ConsumeOrderlyStatus::Success)
    }
}

/// N messages over 4 keys, each key sent to one queue (`send_with_selector`); an orderly
/// consumer must see every key's messages in send order.
async fn orderly(rt: &Runtime, a: &Args) -> Res<()> {
    let (topic, group, n) = (a.get(0, "TOPIC")?, a.get(1, "GROUP")?, a.num(2, "N")?);
    let p = producer(rt, &a.ns, "rust_interop_order_pg").await?;
    for i in 0..n {
        let key = i % 4;
        let m = message(topic, "Ord", &format!("o{key}"), &format!("order-o{key}-{}", i / 4), i)?;
        let r = p
            .send_with_selector(m, |mqs: &[_], _m: &Message, k: &usize| mqs.get(k % mqs.len()).cloned(), key)
            .await
            .map_err(cerr("orderly send"))?;
        r.ok_or("orderly send returned no result")?;
    }
    let mut p = p;
    p.shutdown().await;
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let sec = Security::from_env();
    let mut c = DefaultMQPushConsumer::builder(rt.client.clone())
        .client_config(sec.config())
        .rpc_hook(sec.hook.map(|h| h as Arc<_>))
        .consumer_group(group.to_string())
        .name_server_addr(a.ns.clone())
        .message_model(MessageModel::Clustering)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    c.subscribe(topic, "*").await.map_err(cerr("subscribe"))?;
    c.register_message_listener_orderly(Ordered(seen.clone(), count.clone()));
    c.start().await.map_err(cerr("orderly consumer start"))?;
    let deadline = Instant::now() + a.timeout;
    while count.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            c.shutdown().await;
            return Err(format!("orderly: {} of {n} messages consumed", count.load(Ordering::SeqCst)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.shutdown().await;
    let seen = seen.lock().unwrap();
    for (key, seqs) in seen.iter() {
        if !seqs.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!("orderly: key {key} out of order: {seqs:?}"));
        }
    }
    println!("ok: orderly: {n} messages over {} keys, each key in send order", seen.len());
    Ok(())
}

/// A push consumer of GROUP that must receive `restart-FROM..TO` and no `restart-<i>` below
/// FROM: run twice with messages sent in between, it shows that a restarted consumer
/// continues from the offset its group committed. The producer side sends the range itself
/// first when `--send` is given.
async fn consume(rt: &Runtime, a: &Args) -> Res<()> {
    let (topic, group) = (a.get(0, "TOPIC")?, a.get(1, "GROUP")?);
    let (from, to) = (a.num(2, "FROM")?, a.num(3, "TO")?);
    let p = producer(rt, &a.ns, "rust_interop_restart_pg").await?;
    for i in from..to {
        let m = message(topic, "R", &format!("r{i}"), &format!("restart-{i}"), i)?;
        p.send(m).await.map_err(cerr("send"))?.ok_or("send returned no result")?;
    }
    let mut p = p;
    p.shutdown().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut c = push_consumer(rt, &a.ns, topic, group, MessageSelector::by_tag("*"), seen.clone()).await?;
    let want = bodies("restart", from..to);
    let r = wait_for(&seen, a.timeout, "the new messages", |s| want.iter().all(|b| s.bodies.contains_key(b))).await;
    // Give the client time to commit its offsets before it shuts down (it also persists them
    // on shutdown).
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.shutdown().await;
    r?;
    let s = seen.lock().unwrap();
    let old: Vec<&String> = s.bodies.keys().filter(|b| !want.contains(*b)).collect();
    if !old.is_empty() {
        return Err(format!("consumer re-received {} messages from before its committed offset, e.g. {:?}", old.len(), old.first()));
    }
    println!("ok: consume: {group} received restart-{from}..{to} ({} deliveries) and nothing older", s.deliveries);
    Ok(())
}

/// A SQL92 subscription: 100 messages with property a=0..99 and tags TagA/TagB; only
/// `a BETWEEN 10 AND 29 AND TAGS = 'TagA'` (10 messages) may arrive.
async fn sql(rt: &Runtime, a: &Args) -> Res<()> {
    let (topic, group) = (a.get(0, "TOPIC")?, a.get(1, "GROUP")?);
    let expr = "a BETWEEN 10 AND 29 AND TAGS = 'TagA'";
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut c = push_consumer(rt, &a.ns, topic, group, MessageSelector::by_sql(expr), seen.clone()).await?;
    let p = producer(rt, &a.ns, "rust_interop_sql_pg").await?;
    for i in 0..100 {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let m = message(topic, tag, &format!("s{i}"), &format!("sql-{i}"), i)?;
        p.send(m).await.map_err(cerr("send"))?.ok_or("send returned no result")?;
    }
    let mut p = p;
    p.shutdown().await;
    let want: BTreeSet<String> = (10..30).filter(|i| i % 2 == 0).map(|i| format!("sql-{i}")).collect();
    let r = wait_for(&seen, a.timeout, "the matching messages", |s| want.iter().all(|b| s.bodies.contains_key(b))).await;
    // Anything that should have been filtered out would have arrived with them (one queue
    // pull returns both); give stragglers a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.shutdown().await;
    r?;
    let s = seen.lock().unwrap();
    let extra: Vec<&String> = s.bodies.keys().filter(|b| !want.contains(*b)).collect();
    if !extra.is_empty() {
        return Err(format!("SQL92 filter let through {} messages: {extra:?}", extra.len()));
    }
    println!("ok: sql: '{expr}' delivered exactly the {} matching messages of 100", want.len());
    Ok(())
}

/// The admin API reads every admin body we serve with the 5.x client's own (strict, serde)
/// types: a missing 5.x field fails here. A consumer of GROUP is online meanwhile, so the
/// connection list and consume stats are not empty.
async fn admin(rt: &Runtime, a: &Args) -> Res<()> {
    use rocketmq_client_rust::{BrokerAdmin, ConsumerAdmin, DefaultMQAdminExt, RouteAdmin, TopicAdmin};
    let (topic, group) = (a.get(0, "TOPIC")?, a.get(1, "GROUP")?);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut c = push_consumer(rt, &a.ns, topic, group, MessageSelector::by_tag("*"), seen).await?;
    let sec = Security::from_env();
    let mut adm = match sec.hook.clone() {
        Some(h) => DefaultMQAdminExt::with_rpc_hook(rt.client.clone(), h),
        None => DefaultMQAdminExt::new(rt.client.clone()),
    };
    if let Some(ca) = &sec.tls_ca {
        adm.set_use_tls(true);
        adm.client_config_mut().set_tls_client_trust_cert_path(ca.clone());
    }
    adm.set_namesrv_addr(a.ns.clone());
    adm.start().await.map_err(cerr("admin start"))?;
    let result = async {
        let cluster = adm.examine_broker_cluster_info().await.map_err(cerr("cluster info"))?;
        let text = format!("{cluster:?}");
        let addr = text
            .split('"')
            .find(|s| s.starts_with("127.0.0.1:"))
            .ok_or_else(|| format!("no broker address in cluster info: {text}"))?
            .to_string();
        println!("ok: admin: cluster info (broker {addr})");
        adm.examine_topic_route_info(topic.into()).await.map_err(cerr("topic route"))?.ok_or("no route")?;
        println!("ok: admin: topic route");
        let stats = adm.examine_topic_stats(topic.into(), None).await.map_err(cerr("topic stats"))?;
        println!("ok: admin: topic stats ({} chars)", format!("{stats:?}").len());
        adm.get_all_topic_config(addr.clone().into(), 5000).await.map_err(cerr("all topic config"))?;
        println!("ok: admin: all topic config");
        adm.get_all_subscription_group(addr.clone().into(), 5000).await.map_err(cerr("all subscription groups"))?;
        println!("ok: admin: all subscription groups");
        let kv = adm.fetch_broker_runtime_stats(addr.clone().into()).await.map_err(cerr("runtime stats"))?;
        println!("ok: admin: broker runtime stats ({} chars)", format!("{kv:?}").len());
        // The consumer registers with its first heartbeat; poll until the broker lists it.
        let deadline = Instant::now() + a.timeout;
        loop {
            match adm.examine_consumer_connection_info(group.into(), Some(addr.clone().into())).await {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => return Err(format!("consumer connections: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        println!("ok: admin: consumer connection list");
        adm.examine_consume_stats(group.into(), Some(topic.into()), None, Some(addr.clone().into()), Some(5000))
            .await
            .map_err(cerr("consume stats"))?;
        println!("ok: admin: consume stats");
        Ok::<(), String>(())
    }
    .await;
    adm.shutdown().await;
    c.shutdown().await;
    result
}

async fn run() -> Res<()> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let mut timeout = Duration::from_secs(60);
    if let Some(i) = argv.iter().position(|a| a == "--timeout") {
        let v = argv.get(i + 1).and_then(|v| v.parse().ok()).ok_or("--timeout needs seconds")?;
        timeout = Duration::from_secs(v);
        argv.drain(i..i + 2);
    }
    if argv.len() < 2 {
        return Err("usage: rmq-interop-rust-client send|push|orderly|consume|sql NAMESRV ARGS... [--timeout S]".into());
    }
    let cmd = argv.remove(0);
    let args = Args { ns: argv.remove(0), rest: argv, timeout };
    eprintln!("security: {}", Security::from_env().describe());
    let rt = runtime()?;
    let r = match cmd.as_str() {
        "send" => send(&rt, &args).await,
        "push" => push(&rt, &args).await,
        "orderly" => orderly(&rt, &args).await,
        "consume" => consume(&rt, &args).await,
        "sql" => sql(&rt, &args).await,
        "admin" => admin(&rt, &args).await,
        other => Err(format!("unknown scenario {other}")),
    };
    rt.shutdown().await;
    r
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
