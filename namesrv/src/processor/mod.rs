//! Request processors, one small file per request family, and the dispatcher.
//!
//! Every processor is a plain function `(state, channel, request) -> Reply`; errors are error
//! responses (a bad header names the field in the remark), never panics.

// Both arms of `Reply` are a RemotingCommand of the same size: boxing the error would buy nothing.
#![allow(clippy::result_large_err)]

mod admin;
mod broker;
mod kv;
mod route;

use std::sync::Arc;

use mq_common::protocol::codes::request as req;
use mq_common::protocol::RemotingCommand;
pub(crate) use mq_common::remoting::{header, Reply};
use mq_common::remoting::{Channel, RequestHandler};

use crate::state::NamesrvState;

/// The name server's [`RequestHandler`]: dispatches by request code.
pub struct NamesrvProcessor {
    state: Arc<NamesrvState>,
}

impl NamesrvProcessor {
    /// A processor over shared state.
    pub fn new(state: Arc<NamesrvState>) -> Self {
        NamesrvProcessor { state }
    }

    /// Answer one request (no I/O besides the KV file).
    pub fn process(&self, channel: &Channel, request: &RemotingCommand) -> Reply {
        let s = &*self.state;
        match request.code {
            req::REGISTER_BROKER => broker::register(s, channel, request),
            req::UNREGISTER_BROKER => broker::unregister(s, request),
            req::BROKER_HEARTBEAT => broker::heartbeat(s, request),
            req::QUERY_DATA_VERSION => broker::query_data_version(s, request),
            req::GET_ROUTEINFO_BY_TOPIC => route::get_route(s, request),
            req::GET_BROKER_CLUSTER_INFO => route::cluster_info(s),
            req::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => route::all_topics(s),
            req::DELETE_TOPIC_IN_NAMESRV => route::delete_topic(s, request),
            req::REGISTER_TOPIC_IN_NAMESRV => route::register_topic(s, request),
            req::GET_TOPICS_BY_CLUSTER => route::topics_by_cluster(s, request),
            req::GET_SYSTEM_TOPIC_LIST_FROM_NS => route::system_topics(s),
            req::GET_UNIT_TOPIC_LIST
            | req::GET_HAS_UNIT_SUB_TOPIC_LIST
            | req::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => route::unit_topics(s, request.code),
            req::PUT_KV_CONFIG => kv::put(s, request),
            req::GET_KV_CONFIG => kv::get(s, request),
            req::DELETE_KV_CONFIG => kv::delete(s, request),
            req::GET_KVLIST_BY_NAMESPACE => kv::list_namespace(s, request),
            req::WIPE_WRITE_PERM_OF_BROKER => admin::write_perm(s, request, false),
            req::ADD_WRITE_PERM_OF_BROKER => admin::write_perm(s, request, true),
            req::UPDATE_NAMESRV_CONFIG => admin::update_config(s, request),
            req::GET_NAMESRV_CONFIG => admin::get_config(s),
            _ => {
                tracing::debug!(code = request.code, peer = %channel.peer_addr(), "request code not supported");
                Err(Self::not_supported(request))
            }
        }
    }
}

impl RequestHandler for NamesrvProcessor {
    async fn handle(&self, channel: &Channel, request: RemotingCommand) -> Reply {
        tracing::trace!(code = request.code, opaque = request.opaque, peer = %channel.peer_addr(), "request");
        // rocketmq_rpc_latency is timed by the connection (`ServerConfig::timer`).
        self.process(channel, &request)
    }

    fn on_connected(&self, channel: &Channel) {
        tracing::debug!(peer = %channel.peer_addr(), "connected");
        self.state.metrics.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A broker's registration connection closing unregisters it at once (spec §5.3).
    fn on_disconnected(&self, channel: &Channel) {
        self.state.metrics.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        for r in self.state.routes.on_channel_closed(channel) {
            tracing::info!(addr = %r.key.addr, broker = %r.broker_name, "broker removed: its connection closed");
        }
    }
}
