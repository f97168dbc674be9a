//! The real (remoting) backend against scripted servers on 127.0.0.1: a nameserver that lists
//! two brokers, one of which answers and one whose port is closed. Checks that fan-outs show the
//! live broker plus a failure naming the dead one, that a single-broker call fails naming it,
//! and that the HTTP layer turns that into a 502.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mq_common::protocol::body::{
    to_json, BrokerData, ClusterInfo, KvTable, SubscriptionGroupConfig, SubscriptionGroupWrapper,
    TopicConfig, TopicConfigSerializeWrapper, TopicRouteData,
};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{Channel, RemotingServer, Reply, RequestHandler, ServerConfig};
use mq_console::auth::Auth;
use mq_console::backend::remote::RemoteBackend;
use mq_console::backend::{Backend, BackendError};
use mq_console::{router, AppState};
use tower::ServiceExt;

struct Namesrv {
    cluster: ClusterInfo,
}

/// The route of every topic but `Nope`: both brokers of the cluster table.
fn route_of(cluster: &ClusterInfo) -> TopicRouteData {
    TopicRouteData {
        broker_datas: cluster.broker_addr_table.values().cloned().collect(),
        ..Default::default()
    }
}

impl RequestHandler for Namesrv {
    async fn handle(&self, _ch: &Channel, req: RemotingCommand) -> Reply {
        Ok(Some(match req.code {
            request::GET_BROKER_CLUSTER_INFO => {
                RemotingCommand::success().with_body(to_json(&self.cluster))
            }
            request::GET_ROUTEINFO_BY_TOPIC if req.ext("topic") == Some("Nope") => {
                RemotingCommand::error(response::TOPIC_NOT_EXIST, "No topic route info")
            }
            request::GET_ROUTEINFO_BY_TOPIC => {
                RemotingCommand::success().with_body(to_json(&route_of(&self.cluster)))
            }
            _ => RemotingCommand::error(response::REQUEST_CODE_NOT_SUPPORTED, "not scripted"),
        }))
    }
}

struct Broker;

impl RequestHandler for Broker {
    async fn handle(&self, _ch: &Channel, req: RemotingCommand) -> Reply {
        Ok(Some(match req.code {
            request::GET_BROKER_RUNTIME_INFO => {
                let t = KvTable { table: BTreeMap::from([("brokerVersionDesc".to_string(), "V4_9_4".to_string()), ("msgPutTotalTodayNow".to_string(), "7".to_string())]) };
                RemotingCommand::success().with_body(to_json(&t))
            }
            request::GET_ALL_TOPIC_CONFIG => {
                let mut w = TopicConfigSerializeWrapper::default();
                w.topic_config_table.insert("Orders".into(), TopicConfig::new("Orders", 4, 6));
                RemotingCommand::success().with_body(to_json(&w))
            }
            request::QUERY_MESSAGE => RemotingCommand::error(response::QUERY_NOT_FOUND, "no message"),
            // fastjson's form: a MessageQueue object as the map key.
            request::GET_TOPIC_STATS_INFO => RemotingCommand::success().with_body(bytes::Bytes::from_static(
                br#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"Orders"}:{"minOffset":0,"maxOffset":5,"lastUpdateTimestamp":0}}}"#,
            )),
            request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => {
                let mut w = SubscriptionGroupWrapper::default();
                w.subscription_group_table.insert("OrderGroup".into(), SubscriptionGroupConfig::new("OrderGroup"));
                RemotingCommand::success().with_body(to_json(&w))
            }
            _ => RemotingCommand::error(response::REQUEST_CODE_NOT_SUPPORTED, "not scripted"),
        }))
    }
}

fn broker_data(name: &str, addr: &str) -> BrokerData {
    BrokerData {
        broker_addrs: BTreeMap::from([("0".to_string(), addr.to_string())]),
        broker_name: name.into(),
        cluster: "C".into(),
        ..Default::default()
    }
}

/// A loopback address nothing listens on: a socket bound but never listening (connections to
/// it are refused), held by the caller for the test's lifetime. A port bound and released
/// instead could be taken meanwhile by a server of a test running beside this one, which then
/// answered as the "dead" peer.
fn dead_addr() -> (tokio::net::TcpSocket, String) {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = s.local_addr().unwrap().to_string();
    (s, addr)
}

#[tokio::test]
async fn dead_broker_is_named_and_live_one_shown() {
    let broker = RemotingServer::bind("127.0.0.1:0", Arc::new(Broker), ServerConfig::default())
        .await
        .unwrap();
    let live = broker.local_addr().to_string();
    let (_held, dead) = dead_addr();
    let cluster = ClusterInfo {
        broker_addr_table: BTreeMap::from([
            ("broker-a".to_string(), broker_data("broker-a", &live)),
            ("broker-b".to_string(), broker_data("broker-b", &dead)),
        ]),
        cluster_addr_table: BTreeMap::from([(
            "C".to_string(),
            BTreeSet::from(["broker-a".to_string(), "broker-b".to_string()]),
        )]),
    };
    let ns =
        RemotingServer::bind("127.0.0.1:0", Arc::new(Namesrv { cluster }), ServerConfig::default())
            .await
            .unwrap();
    let backend = Arc::new(RemoteBackend::new(
        vec![ns.local_addr().to_string()],
        Duration::from_secs(2),
        Duration::from_millis(0),
    ));

    let o = backend.cluster_overview().await.unwrap();
    assert_eq!(o.failures.len(), 1);
    assert_eq!(o.failures[0].broker, "broker-b");
    assert_eq!(o.failures[0].addr, dead);
    let a = o.items.brokers.iter().find(|b| b.broker_name == "broker-a").unwrap();
    assert_eq!(a.version.as_deref(), Some("V4_9_4"));
    assert!(
        o.items.brokers.iter().any(|b| b.broker_name == "broker-b" && b.error.is_some()),
        "failed broker stays listed"
    );

    let t = backend.list_topics().await.unwrap();
    assert_eq!(t.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["Orders"]);
    assert_eq!(t.failures[0].broker, "broker-b");
    let g = backend.list_groups().await.unwrap();
    assert_eq!(g.items[0].name, "OrderGroup");
    assert_eq!(g.failures[0].broker, "broker-b");

    // Message queries go through mq_client::Admin's per-broker fan-out: the live broker's
    // (empty) answer plus a failure naming the dead one; an unknown topic is NotFound.
    let m = backend.messages_by_key("Orders", "k1", 10).await.unwrap();
    assert!(m.messages.is_empty());
    assert_eq!(m.failures.len(), 1);
    assert_eq!(m.failures[0].broker, "broker-b");
    assert_eq!(m.failures[0].addr, dead);
    assert!(matches!(
        backend.messages_by_key("Nope", "k1", 10).await,
        Err(BackendError::NotFound(_))
    ));
    let st = backend.topic_status("Orders").await.unwrap();
    assert_eq!(st.items.len(), 1);
    assert_eq!((st.items[0].broker_name.as_str(), st.items[0].max_offset), ("broker-a", 5));
    assert_eq!(st.failures.len(), 1);
    assert_eq!(st.failures[0].broker, "broker-b");

    match backend.broker_runtime(&dead).await {
        Err(BackendError::Broker { broker, addr, .. }) => {
            assert_eq!(broker, "broker-b");
            assert_eq!(addr, dead);
        }
        other => panic!("expected a broker error, got {other:?}"),
    }
    // Unknown addresses are refused rather than dialled.
    assert!(matches!(backend.broker_runtime("127.0.0.1:1").await, Err(BackendError::NotFound(_))));

    let app = router(AppState::new(backend, Auth::with_password("pw", 1000, true)));
    let resp = app
        .oneshot(
            Request::get(format!("/api/brokers/runtime?addr={dead}")).body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let v: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["error"]["broker"], "broker-b");

    ns.shutdown().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn dead_nameserver_is_an_error_naming_it() {
    let (_held, dead) = dead_addr();
    let backend =
        RemoteBackend::new(vec![dead.clone()], Duration::from_secs(1), Duration::from_millis(0));
    match backend.cluster_overview().await {
        Err(BackendError::Namesrv { addr, .. }) => assert_eq!(addr, dead),
        other => panic!("expected a nameserver error, got {other:?}"),
    }
}
