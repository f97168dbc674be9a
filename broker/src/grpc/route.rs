//! QueryRoute and QueryAssignment (spec §7). Routes come from the name servers (so a client
//! given any one broker's endpoint reaches every topic of the cluster) or, without name
//! servers, from this broker's own topics. Each queue names the gRPC endpoint of the broker
//! that holds it: this broker answers with the access point the client dialled (it reached us,
//! so it is reachable, also behind port mappings); another broker's `brokerIP1:grpcServerPort`
//! is asked from it once (GET_BROKER_CONFIG) and cached.

use std::time::Duration;

use dashmap::DashMap;
use mq_common::protocol::body::{
    system_topics, validate_topic, BrokerData, QueueData, TopicRouteData, PERM_READ, PERM_WRITE,
};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::GetRouteInfoRequestHeader;
use mq_common::protocol::{lenient_json, now_millis, RemotingCommand};
use mq_grpc_proto::v2::{
    Address, AddressScheme, Assignment, Broker as PbBroker, Code, Endpoints, MessageQueue,
    MessageType, Permission, QueryAssignmentRequest, QueryAssignmentResponse, QueryRouteRequest,
    QueryRouteResponse, Resource,
};

use super::status::{ok, status};
use super::GrpcService;
use crate::broker::Broker;

/// How long another broker's gRPC port is trusted.
const PORT_TTL_MS: i64 = 60_000;

/// Other brokers' gRPC ports by remoting address.
#[derive(Default)]
pub struct EndpointCache {
    ports: DashMap<String, (u16, i64)>,
}

/// The topic attribute that fixes a topic's message type (Apache's `message.type`).
pub const MESSAGE_TYPE_ATTR: &str = "message.type";

/// Message types a topic accepts: the `message.type` attribute if set (MIXED = all four);
/// all four for topics created without it (every 4.x-style topic), so the SDKs' client-side
/// type check lets FIFO / delay / transactional sends through to existing topics.
pub fn accepted_types(b: &Broker, topic: &str) -> Vec<MessageType> {
    let attr = b.topics.get(topic).and_then(|t| {
        t.attributes.get(MESSAGE_TYPE_ATTR).or(t.attributes.get("+message.type")).cloned()
    });
    match attr.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("NORMAL") => vec![MessageType::Normal],
        Some("FIFO") => vec![MessageType::Fifo],
        Some("DELAY") => vec![MessageType::Delay],
        Some("TRANSACTION") => vec![MessageType::Transaction],
        _ => vec![
            MessageType::Normal,
            MessageType::Fifo,
            MessageType::Delay,
            MessageType::Transaction,
        ],
    }
}

fn scheme_of(host: &str) -> AddressScheme {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => AddressScheme::IPv4,
        Ok(std::net::IpAddr::V6(_)) => AddressScheme::IPv6,
        Err(_) => AddressScheme::DomainName,
    }
}

/// Endpoints of one address.
pub fn endpoints(host: &str, port: u16) -> Endpoints {
    Endpoints {
        scheme: scheme_of(host) as i32,
        addresses: vec![Address { host: host.to_string(), port: port as i32 }],
    }
}

/// This broker's endpoints as seen by a client that dialled `access`.
fn own_endpoints(svc: &GrpcService, access: Option<&Endpoints>) -> Endpoints {
    match access {
        Some(e) if !e.addresses.is_empty() => {
            let mut e = e.clone();
            if e.scheme == AddressScheme::Unspecified as i32 {
                e.scheme = scheme_of(&e.addresses[0].host) as i32;
            }
            e
        }
        _ => endpoints(&svc.b.cfg.broker_ip1.to_string(), svc.port),
    }
}

/// Ask the name servers for a topic's route; `Ok(None)` = no such topic.
async fn namesrv_route(b: &Broker, topic: &str) -> Result<Option<TopicRouteData>, String> {
    let hdr = GetRouteInfoRequestHeader {
        topic: topic.to_string(),
        accept_standard_json_only: Some(true),
    };
    let mut last = String::from("no name server configured");
    for addr in b.cfg.namesrv_list() {
        let req = RemotingCommand::request_with_header(rq::GET_ROUTEINFO_BY_TOPIC, &hdr);
        match b.client.invoke(&addr, req, Duration::from_secs(3)).await {
            Ok(r) if r.code == response::SUCCESS => {
                return lenient_json::from_slice::<TopicRouteData>(&r.body)
                    .map(Some)
                    .map_err(|e| format!("bad route from {addr}: {e}"));
            }
            Ok(r) if r.code == response::TOPIC_NOT_EXIST => return Ok(None),
            Ok(r) => last = format!("{addr}: code {} {}", r.code, r.remark.unwrap_or_default()),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// The route from this broker's own topic table.
fn local_route(b: &Broker, topic: &str) -> Option<TopicRouteData> {
    let tc = b.topics.get(topic)?;
    let mut addrs = std::collections::BTreeMap::new();
    addrs.insert("0".to_string(), b.cfg.broker_addr());
    Some(TopicRouteData {
        broker_datas: vec![BrokerData {
            broker_addrs: addrs,
            broker_name: b.cfg.broker_name.clone(),
            cluster: b.cfg.broker_cluster_name.clone(),
            enable_acting_master: false,
            zone_name: None,
        }],
        queue_datas: vec![QueueData {
            broker_name: b.cfg.broker_name.clone(),
            read_queue_nums: tc.read_queue_nums,
            write_queue_nums: tc.write_queue_nums,
            perm: tc.perm,
            topic_sys_flag: tc.topic_sys_flag,
        }],
        ..Default::default()
    })
}

impl GrpcService {
    /// The gRPC endpoint of another broker (by remoting address), `None` if it serves none.
    async fn remote_endpoints(&self, remoting_addr: &str) -> Option<Endpoints> {
        let now = now_millis();
        let host = remoting_addr.rsplit_once(':').map(|(h, _)| h)?.to_string();
        if let Some(e) = self.endpoints.ports.get(remoting_addr) {
            if now - e.1 < PORT_TTL_MS {
                return (e.0 != 0).then(|| endpoints(&host, e.0));
            }
        }
        let req = RemotingCommand::request(rq::GET_BROKER_CONFIG);
        let port = match self.b.client.invoke(remoting_addr, req, Duration::from_secs(3)).await {
            Ok(r) if r.code == response::SUCCESS => String::from_utf8_lossy(&r.body)
                .lines()
                .find_map(|l| l.strip_prefix("grpcServerPort=").map(|v| v.trim().parse().ok()))
                .flatten()
                .unwrap_or(0u16),
            _ => return None,
        };
        self.endpoints.ports.insert(remoting_addr.to_string(), (port, now));
        (port != 0).then(|| endpoints(&host, port))
    }

    async fn route(&self, topic: &str) -> Result<Option<TopicRouteData>, String> {
        if self.b.cfg.namesrv_list().is_empty() {
            return Ok(local_route(&self.b, topic));
        }
        match namesrv_route(&self.b, topic).await {
            Ok(Some(r)) => Ok(Some(r)),
            // Not registered yet (a topic created a moment ago): our own table still knows it.
            Ok(None) => Ok(local_route(&self.b, topic)),
            Err(e) => local_route(&self.b, topic).map(Some).ok_or(e),
        }
    }

    /// The broker entry (name, endpoints) of each broker name in a route that serves gRPC.
    async fn brokers_of(
        &self,
        route: &TopicRouteData,
        access: Option<&Endpoints>,
    ) -> Vec<(String, Endpoints)> {
        let mut out = Vec::new();
        for bd in &route.broker_datas {
            let eps = if bd.broker_name == self.b.cfg.broker_name {
                Some(own_endpoints(self, access))
            } else {
                match bd.broker_addrs.get("0") {
                    Some(addr) => self.remote_endpoints(addr).await,
                    None => None,
                }
            };
            if let Some(e) = eps {
                out.push((bd.broker_name.clone(), e));
            }
        }
        out
    }

    /// QueryRoute.
    pub(crate) async fn query_route(&self, req: QueryRouteRequest) -> QueryRouteResponse {
        let topic = req.topic.as_ref().map(|t| t.name.as_str()).unwrap_or("");
        if let Err(why) = check_topic(topic) {
            return QueryRouteResponse {
                status: status(Code::IllegalTopic, why),
                ..Default::default()
            };
        }
        let route = match self.route(topic).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return QueryRouteResponse {
                    status: status(Code::TopicNotFound, format!("topic '{topic}' not found")),
                    ..Default::default()
                }
            }
            Err(e) => {
                return QueryRouteResponse {
                    status: status(Code::InternalServerError, format!("route lookup failed: {e}")),
                    ..Default::default()
                }
            }
        };
        let brokers = self.brokers_of(&route, req.endpoints.as_ref()).await;
        let types: Vec<i32> =
            accepted_types(&self.b, topic).into_iter().map(|t| t as i32).collect();
        let res = req.topic.clone().unwrap_or_default();
        let mut queues = Vec::new();
        for qd in &route.queue_datas {
            let Some((name, eps)) = brokers.iter().find(|(n, _)| *n == qd.broker_name) else {
                continue;
            };
            let broker = PbBroker { name: name.clone(), id: 0, endpoints: Some(eps.clone()) };
            let (r, w) = (qd.read_queue_nums.max(0), qd.write_queue_nums.max(0));
            let both = r.min(w);
            for id in 0..r.max(w) {
                let perm = if id < both {
                    match (qd.perm & PERM_READ != 0, qd.perm & PERM_WRITE != 0) {
                        (true, true) => Permission::ReadWrite,
                        (true, false) => Permission::Read,
                        (false, true) => Permission::Write,
                        _ => Permission::None,
                    }
                } else if id < r {
                    Permission::Read
                } else {
                    Permission::Write
                };
                queues.push(MessageQueue {
                    topic: Some(res.clone()),
                    id,
                    permission: perm as i32,
                    broker: Some(broker.clone()),
                    accept_message_types: types.clone(),
                });
            }
        }
        if queues.is_empty() {
            return QueryRouteResponse {
                status: status(Code::TopicNotFound, format!("no gRPC endpoint serves '{topic}'")),
                ..Default::default()
            };
        }
        QueryRouteResponse { status: ok(), message_queues: queues }
    }

    /// QueryAssignment: orderly groups get one assignment per readable queue (so each queue is
    /// consumed by one receive at a time), others one per broker with queue id −1.
    pub(crate) async fn query_assignment(
        &self,
        req: QueryAssignmentRequest,
    ) -> QueryAssignmentResponse {
        let topic = req.topic.as_ref().map(|t| t.name.as_str()).unwrap_or("");
        let group = req.group.as_ref().map(|g| g.name.as_str()).unwrap_or("");
        if let Err(why) = check_topic(topic) {
            return QueryAssignmentResponse {
                status: status(Code::IllegalTopic, why),
                ..Default::default()
            };
        }
        if group.is_empty() {
            return QueryAssignmentResponse {
                status: status(Code::IllegalConsumerGroup, "consumer group is empty"),
                ..Default::default()
            };
        }
        let route = match self.route(topic).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return QueryAssignmentResponse {
                    status: status(Code::TopicNotFound, format!("topic '{topic}' not found")),
                    ..Default::default()
                }
            }
            Err(e) => {
                return QueryAssignmentResponse {
                    status: status(Code::InternalServerError, format!("route lookup failed: {e}")),
                    ..Default::default()
                }
            }
        };
        let fifo = self.b.groups.get(group).is_some_and(|g| g.consume_message_orderly);
        let brokers = self.brokers_of(&route, req.endpoints.as_ref()).await;
        let res = req.topic.clone().unwrap_or_default();
        let mut out = Vec::new();
        for qd in &route.queue_datas {
            if qd.perm & PERM_READ == 0 || qd.read_queue_nums <= 0 {
                continue;
            }
            let Some((name, eps)) = brokers.iter().find(|(n, _)| *n == qd.broker_name) else {
                continue;
            };
            let broker = PbBroker { name: name.clone(), id: 0, endpoints: Some(eps.clone()) };
            let ids: Vec<i32> = if fifo { (0..qd.read_queue_nums).collect() } else { vec![-1] };
            for id in ids {
                out.push(Assignment {
                    message_queue: Some(MessageQueue {
                        topic: Some(res.clone()),
                        id,
                        permission: Permission::ReadWrite as i32,
                        broker: Some(broker.clone()),
                        accept_message_types: vec![],
                    }),
                });
            }
        }
        if out.is_empty() {
            return QueryAssignmentResponse {
                status: status(Code::Forbidden, "no readable queue"),
                ..Default::default()
            };
        }
        QueryAssignmentResponse { status: ok(), assignments: out }
    }
}

/// Topic names a client may use: valid and not a system topic.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("topic is empty".into());
    }
    validate_topic(topic)?;
    if system_topics::is_not_allowed_to_send(topic)
        || topic.starts_with(system_topics::RETRY_PREFIX)
        || topic.starts_with(system_topics::DLQ_PREFIX)
    {
        return Err(format!("topic '{topic}' is a system topic"));
    }
    Ok(())
}

/// A resource's name (`None` → "").
pub fn name(r: &Option<Resource>) -> &str {
    r.as_ref().map(|r| r.name.as_str()).unwrap_or("")
}
