//! The runtime shared by one producer or consumer (Java `MQClientInstance`): RPC layer, route
//! cache, client id, and the background route-refresh and heartbeat loops.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_common::message::UniqIdGenerator;
use mq_common::protocol::body::{HeartbeatData, TopicRouteData};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::api::ClientApi;
use crate::error::Result;
use crate::options::{default_instance_name, ClientOptions};
use crate::route::RouteTable;

/// Builds the heartbeat body from the owner's current state.
pub(crate) type HeartbeatSource = Arc<dyn Fn() -> HeartbeatData + Send + Sync>;

/// Called with every route fetched from the nameserver.
pub(crate) type RouteListener = Arc<dyn Fn(&str, &TopicRouteData) + Send + Sync>;

/// At most one route refresh per topic this often after failed requests
/// ([`ClientInstance::refresh_route_after_failure`]).
const FAILURE_REFRESH_EVERY: Duration = Duration::from_millis(250);

/// Shared client runtime.
pub(crate) struct ClientInstance {
    pub api: ClientApi,
    pub routes: RouteTable,
    pub opts: ClientOptions,
    pub client_id: String,
    pub ids: UniqIdGenerator,
    pub shutdown: CancellationToken,
    topics: Mutex<BTreeSet<String>>,
    heartbeat: Mutex<Option<HeartbeatSource>>,
    route_listener: Mutex<Option<RouteListener>>,
    /// When each topic's route was last refreshed after a failure.
    failure_refreshes: Mutex<HashMap<String, Instant>>,
}

impl ClientInstance {
    /// Connect to a nameserver to learn our IP and build the client id `ip@instance`.
    pub async fn new(opts: ClientOptions) -> Arc<Self> {
        let api = ClientApi::new(
            opts.namesrv_addrs.clone(),
            opts.rpc_timeout,
            opts.credentials.clone(),
            opts.tls.clone(),
        );
        let ip = match opts.client_ip {
            Some(ip) => ip,
            None => api.local_ip().await.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        };
        let instance = opts.instance_name.clone().unwrap_or_else(default_instance_name);
        Arc::new(ClientInstance {
            api,
            routes: RouteTable::default(),
            client_id: format!("{ip}@{instance}"),
            ids: UniqIdGenerator::new(ip),
            opts,
            shutdown: CancellationToken::new(),
            topics: Mutex::new(BTreeSet::new()),
            heartbeat: Mutex::new(None),
            route_listener: Mutex::new(None),
            failure_refreshes: Mutex::new(HashMap::new()),
        })
    }

    /// Set where heartbeat bodies come from.
    pub fn set_heartbeat_source(&self, src: HeartbeatSource) {
        *self.heartbeat.lock() = Some(src);
    }

    /// Set who hears about fetched routes.
    pub fn set_route_listener(&self, l: RouteListener) {
        *self.route_listener.lock() = Some(l);
    }

    /// Keep `topic`'s route fresh from now on.
    pub fn watch_topic(&self, topic: &str) {
        self.topics.lock().insert(topic.to_string());
    }

    /// Fetch a topic's route from the nameserver and cache it. `Ok(None)`: unknown topic.
    pub async fn refresh_route(&self, topic: &str) -> Result<Option<TopicRouteData>> {
        let route = self.api.get_route(topic).await?;
        if let Some(r) = &route {
            self.routes.update(topic, r);
            let l = self.route_listener.lock().clone();
            if let Some(l) = l {
                l(topic, r);
            }
        }
        Ok(route)
    }

    /// After a failed request to a broker of `topic`, refresh its route in the background, at
    /// most once per [`FAILURE_REFRESH_EVERY`] per topic. A master that died or was deposed is
    /// replaced (an election in controller mode, an operator's promotion) and the name servers
    /// route the new one within a second, long before the periodic refresh (30 s, Java's
    /// `pollNameServerInterval`) would see it; Java's client waits for that refresh.
    pub fn refresh_route_after_failure(self: &Arc<Self>, topic: &str) {
        let now = Instant::now();
        {
            let mut last = self.failure_refreshes.lock();
            if last.get(topic).is_some_and(|t| now.duration_since(*t) < FAILURE_REFRESH_EVERY) {
                return;
            }
            last.insert(topic.to_string(), now);
        }
        let me = self.clone();
        let topic = topic.to_string();
        tokio::spawn(async move {
            if let Err(e) = me.refresh_route(&topic).await {
                tracing::debug!(%topic, error = %e, "route refresh after a failed send failed");
            }
        });
    }

    /// The cached route, fetching it if absent.
    pub async fn route(&self, topic: &str) -> Result<Option<TopicRouteData>> {
        if let Some(r) = self.routes.route(topic) {
            return Ok(Some(r));
        }
        self.refresh_route(topic).await
    }

    /// Master address of a broker name, refreshing routes of watched topics once if unknown.
    pub async fn master_addr(&self, broker_name: &str, topic: &str) -> Option<String> {
        if let Some(a) = self.routes.master_addr(broker_name) {
            return Some(a);
        }
        let _ = self.refresh_route(topic).await;
        self.routes.master_addr(broker_name)
    }

    /// Java's `findBrokerAddressInAdmin`: the master of a broker name, else any of its
    /// replicas (refreshing routes once if none is known). Consumer offsets are committed to
    /// and read from this address, so a consumer keeps its progress on the slave while the
    /// master is down (docs/ha-protocol.md §9).
    pub async fn admin_addr(&self, broker_name: &str, topic: &str) -> Option<String> {
        if let Some(a) = self.routes.any_addr(broker_name) {
            return Some(a);
        }
        let _ = self.refresh_route(topic).await;
        self.routes.any_addr(broker_name)
    }

    /// Refresh every watched topic's route once.
    pub async fn refresh_all_routes(&self) {
        let topics: Vec<String> = self.topics.lock().iter().cloned().collect();
        for t in topics {
            if let Err(e) = self.refresh_route(&t).await {
                tracing::debug!(topic = %t, error = %e, "route refresh failed");
            }
        }
    }

    /// Heartbeat every known broker now.
    pub async fn heartbeat_all(&self) {
        let Some(src) = self.heartbeat.lock().clone() else { return };
        let data = src();
        let addrs = self.routes.all_broker_addrs();
        let calls = addrs.iter().map(|a| {
            let data = &data;
            async move {
                if let Err(e) = self.api.heartbeat(a, data).await {
                    tracing::debug!(addr = %a, error = %e, "heartbeat failed");
                }
            }
        });
        futures::future::join_all(calls).await;
    }

    /// Start the route-refresh and heartbeat loops; they stop on [`Self::shutdown`].
    pub fn spawn_background(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.opts.route_refresh_interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = me.shutdown.cancelled() => break,
                    _ = tick.tick() => me.refresh_all_routes().await,
                }
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.opts.heartbeat_interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = me.shutdown.cancelled() => break,
                    _ = tick.tick() => me.heartbeat_all().await,
                }
            }
        });
    }

    /// Tell every broker we leave the group(s), stop the loops and close connections.
    pub async fn close(&self, producer_group: Option<&str>, consumer_group: Option<&str>) {
        self.shutdown.cancel();
        let addrs = self.routes.all_broker_addrs();
        let calls = addrs.iter().map(|a| async move {
            if let Err(e) =
                self.api.unregister(a, &self.client_id, producer_group, consumer_group).await
            {
                tracing::debug!(addr = %a, error = %e, "unregister failed");
            }
        });
        futures::future::join_all(calls).await;
        self.api.remoting().close_all();
    }
}
