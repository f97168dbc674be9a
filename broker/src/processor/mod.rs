//! Request processors, one file per request family, and the dispatcher ([`BrokerHandler`])
//! that routes a request code to its processor. Unknown codes get REQUEST_CODE_NOT_SUPPORTED.
// Processors return the ready error *response* as `Err`: it is what goes on the wire, and the
// error path is cold, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod admin_stats;
pub mod broker_config;
pub mod broker_epoch;
pub mod client_manage;
pub mod consumer_manage;
pub(crate) mod found;
pub mod pop;
pub mod pull;
pub mod query;
pub mod reply;
pub mod send;
pub mod send_back;
pub mod transaction;

use std::sync::Arc;

use mq_common::protocol::codes::request as rq;
use mq_common::protocol::RemotingCommand;
pub(crate) use mq_common::remoting::{header, Reply};
use mq_common::remoting::{Channel, RequestHandler};

use crate::broker::Broker;
use crate::store::{Put, PutMessageResult};

/// The broker's [`RequestHandler`].
pub struct BrokerHandler {
    /// Shared state.
    pub broker: Arc<Broker>,
}

/// Shorthand for an error response.
pub(crate) fn err(code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error(code, remark)
}

/// Answer `req` with `answer(result)` once its `put` is durable (or failed to become so) and,
/// on a SYNC_MASTER, once a slave holds it (or why not): at once when there is nothing to
/// wait for, else from the store's flusher or the HA connection that reads the slave's
/// acknowledgement, through [`Channel::respond`] (no task per request). A oneway request gets
/// no answer either way. The one way every put path of the broker acknowledges a put.
pub(crate) fn answer_when_durable(
    b: &Arc<Broker>,
    ch: &Channel,
    req: &RemotingCommand,
    put: Put,
    answer: impl FnOnce(PutMessageResult) -> RemotingCommand + Send + 'static,
) -> Reply {
    let Put { result, ticket } = put;
    if !ticket.is_pending() && !b.ha.needs_slave(&result) {
        return Ok(Some(answer(result)));
    }
    let (ch, opaque, oneway) = (ch.clone(), req.opaque, req.is_oneway());
    let respond = move |r: PutMessageResult| {
        let resp = answer(r);
        if !oneway {
            ch.respond(opaque, resp);
        }
    };
    let b = b.clone();
    ticket.on_durable(Box::new(move |outcome| {
        b.ha.after_put(result.with_durability(outcome), respond);
    }));
    Ok(None)
}

impl RequestHandler for BrokerHandler {
    async fn handle(&self, ch: &Channel, req: RemotingCommand) -> Reply {
        // rocketmq_rpc_latency is timed by the connection (`ServerConfig::timer`).
        self.dispatch(ch, req).await
    }

    /// Sends: a connection's pipelined sends of one read are stored with one commit-log
    /// write ([`send::process_group`]).
    fn groupable(&self, req: &RemotingCommand) -> bool {
        matches!(req.code, rq::SEND_MESSAGE | rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE)
    }

    async fn handle_group(&self, ch: &Channel, reqs: Vec<RemotingCommand>) -> Vec<Reply> {
        send::process_group(&self.broker, ch, reqs)
    }

    fn on_connected(&self, _ch: &Channel) {
        self.broker.metrics.connection(1);
    }

    fn on_disconnected(&self, ch: &Channel) {
        self.broker.metrics.connection(-1);
        client_manage::channel_closed(&self.broker, ch);
    }
}

impl BrokerHandler {
    /// Route a request to its processor.
    async fn dispatch(&self, ch: &Channel, req: RemotingCommand) -> Reply {
        let b = &self.broker;
        match req.code {
            rq::SEND_MESSAGE | rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE => {
                send::process(b, ch, req)
            }
            rq::SEND_REPLY_MESSAGE | rq::SEND_REPLY_MESSAGE_V2 => reply::process(b, ch, req),
            rq::PULL_MESSAGE | rq::LITE_PULL_MESSAGE => pull::process(b, ch, req, true),
            rq::CONSUMER_SEND_MSG_BACK => send_back::process(b, ch, &req),
            rq::POP_MESSAGE => pop::pop_message(b, ch, req),
            rq::ACK_MESSAGE => pop::ack_message(b, &req),
            rq::BATCH_ACK_MESSAGE => pop::batch_ack_message(b, &req),
            rq::CHANGE_MESSAGE_INVISIBLETIME => pop::change_invisible(b, &req),
            rq::END_TRANSACTION => transaction::end_transaction(b, ch, &req),
            rq::QUERY_MESSAGE => query::query_message(b, &req),
            rq::VIEW_MESSAGE_BY_ID => query::view_message(b, ch, &req),
            rq::QUERY_CONSUMER_OFFSET => consumer_manage::query_offset(b, &req),
            rq::UPDATE_CONSUMER_OFFSET => consumer_manage::update_offset(b, &req),
            rq::GET_MAX_OFFSET => consumer_manage::max_offset(b, &req),
            rq::GET_MIN_OFFSET => consumer_manage::min_offset(b, &req),
            rq::SEARCH_OFFSET_BY_TIMESTAMP => consumer_manage::search_offset(b, &req),
            rq::GET_EARLIEST_MSG_STORETIME => consumer_manage::earliest_time(b, &req),
            rq::GET_CONSUMER_LIST_BY_GROUP => consumer_manage::consumer_list(b, &req),
            rq::HEART_BEAT => client_manage::heartbeat(b, ch, &req),
            rq::UNREGISTER_CLIENT => client_manage::unregister(b, ch, &req),
            rq::CHECK_CLIENT_CONFIG => client_manage::check_client_config(b, &req),
            rq::QUERY_BROKER_OFFSET => consumer_manage::broker_offset(b),
            rq::TRIGGER_DELETE_FILES => {
                b.store.trigger_delete_files();
                Ok(Some(RemotingCommand::success()))
            }
            rq::LOCK_BATCH_MQ => client_manage::lock_batch(b, &req),
            rq::UNLOCK_BATCH_MQ => client_manage::unlock_batch(b, &req),
            rq::UPDATE_AND_CREATE_TOPIC => admin::create_topic(b, &req).await,
            rq::DELETE_TOPIC_IN_BROKER => admin::delete_topic(b, &req).await,
            rq::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(b),
            rq::GET_TOPIC_CONFIG_LIST => admin::all_topic_config(b),
            rq::GET_TOPIC_NAME_LIST => admin::topic_name_list(b),
            rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => admin::create_group(b, &req).await,
            rq::DELETE_SUBSCRIPTIONGROUP => admin::delete_group(b, &req).await,
            rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => admin::all_groups(b),
            rq::GET_BROKER_CONFIG => broker_config::get_broker_config(b),
            // Controller → broker, oneway: re-read the group from the controller leader now.
            rq::NOTIFY_BROKER_ROLE_CHANGED if b.ha.controller_mode() => {
                b.ha.role_change_notified();
                Ok(None)
            }
            rq::UPDATE_BROKER_CONFIG => broker_config::update_broker_config(b, ch, &req),
            rq::GET_ALL_CONSUMER_OFFSET => admin::all_consumer_offset(b),
            rq::GET_ALL_DELAY_OFFSET => admin::all_delay_offset(b),
            rq::GET_BROKER_RUNTIME_INFO => admin_stats::runtime_info(b),
            rq::GET_BROKER_EPOCH_CACHE => broker_epoch::get_broker_epoch_cache(b),
            rq::GET_TOPIC_STATS_INFO => admin_stats::topic_stats(b, &req),
            rq::GET_CONSUME_STATS => admin_stats::consume_stats(b, &req),
            rq::GET_CONSUMER_CONNECTION_LIST => admin_stats::consumer_connections(b, &req),
            rq::GET_PRODUCER_CONNECTION_LIST => admin_stats::producer_connections(b, &req),
            rq::QUERY_TOPIC_CONSUME_BY_WHO => admin_stats::topic_consumed_by(b, &req),
            rq::QUERY_TOPICS_BY_CONSUMER => admin_stats::topics_by_consumer(b, &req),
            rq::INVOKE_BROKER_TO_RESET_OFFSET => admin::reset_offset(b, &req),
            rq::GET_CONSUMER_RUNNING_INFO | rq::CONSUME_MESSAGE_DIRECTLY => {
                admin::forward_to_client(b, ch, req)
            }
            _ => Err(<Self as RequestHandler>::not_supported(&req)),
        }
    }
}
