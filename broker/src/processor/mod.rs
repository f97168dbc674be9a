//! Request processors, one file per request family, and the dispatcher ([`BrokerHandler`])
//! that routes a request code to its processor. Unknown codes get REQUEST_CODE_NOT_SUPPORTED.
// Processors return the ready error *response* as `Err`: it is what goes on the wire, and the
// error path is cold, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod admin_stats;
pub mod broker_config;
pub mod client_manage;
pub mod consumer_manage;
pub mod pull;
pub mod query;
pub mod reply;
pub mod send;
pub mod send_back;
pub mod transaction;

use std::sync::Arc;

use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::{CommandHeader, RemotingCommand};
use mq_common::remoting::{Channel, RequestHandler};

use crate::broker::Broker;

/// The broker's [`RequestHandler`].
pub struct BrokerHandler {
    /// Shared state.
    pub broker: Arc<Broker>,
}

/// Decode a typed header or produce the error response naming the bad field.
pub(crate) fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, RemotingCommand> {
    req.decode_header::<H>().map_err(|e| {
        RemotingCommand::error(response::SYSTEM_ERROR, format!("bad request header: {e}"))
    })
}

/// Shorthand for an error response.
pub(crate) fn err(code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::error(code, remark)
}

impl RequestHandler for BrokerHandler {
    async fn handle(&self, ch: &Channel, req: RemotingCommand) -> Option<RemotingCommand> {
        let b = &self.broker;
        match req.code {
            rq::SEND_MESSAGE | rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE => {
                send::process(b, ch, req)
            }
            rq::SEND_REPLY_MESSAGE | rq::SEND_REPLY_MESSAGE_V2 => reply::process(b, ch, req),
            rq::PULL_MESSAGE | rq::LITE_PULL_MESSAGE => pull::process(b, ch, req, true),
            rq::CONSUMER_SEND_MSG_BACK => Some(send_back::process(b, ch, &req)),
            rq::END_TRANSACTION => transaction::end_transaction(b, &req),
            rq::QUERY_MESSAGE => Some(query::query_message(b, &req)),
            rq::VIEW_MESSAGE_BY_ID => Some(query::view_message(b, &req)),
            rq::QUERY_CONSUMER_OFFSET => Some(consumer_manage::query_offset(b, &req)),
            rq::UPDATE_CONSUMER_OFFSET => Some(consumer_manage::update_offset(b, &req)),
            rq::GET_MAX_OFFSET => Some(consumer_manage::max_offset(b, &req)),
            rq::GET_MIN_OFFSET => Some(consumer_manage::min_offset(b, &req)),
            rq::SEARCH_OFFSET_BY_TIMESTAMP => Some(consumer_manage::search_offset(b, &req)),
            rq::GET_EARLIEST_MSG_STORETIME => Some(consumer_manage::earliest_time(b, &req)),
            rq::GET_CONSUMER_LIST_BY_GROUP => Some(consumer_manage::consumer_list(b, &req)),
            rq::HEART_BEAT => Some(client_manage::heartbeat(b, ch, &req)),
            rq::UNREGISTER_CLIENT => Some(client_manage::unregister(b, ch, &req)),
            rq::CHECK_CLIENT_CONFIG => Some(RemotingCommand::success()),
            rq::QUERY_BROKER_OFFSET => Some(consumer_manage::broker_offset(b)),
            rq::TRIGGER_DELETE_FILES => {
                b.store.trigger_delete_files();
                Some(RemotingCommand::success())
            }
            rq::LOCK_BATCH_MQ => Some(client_manage::lock_batch(b, &req)),
            rq::UNLOCK_BATCH_MQ => Some(client_manage::unlock_batch(b, &req)),
            rq::UPDATE_AND_CREATE_TOPIC => Some(admin::create_topic(b, &req).await),
            rq::DELETE_TOPIC_IN_BROKER => Some(admin::delete_topic(b, &req).await),
            rq::GET_ALL_TOPIC_CONFIG => Some(admin::all_topic_config(b)),
            rq::GET_TOPIC_CONFIG_LIST => Some(admin::all_topic_config(b)),
            rq::GET_TOPIC_NAME_LIST => Some(admin::topic_name_list(b)),
            rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => Some(admin::create_group(b, &req).await),
            rq::DELETE_SUBSCRIPTIONGROUP => Some(admin::delete_group(b, &req).await),
            rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => Some(admin::all_groups(b)),
            rq::GET_BROKER_CONFIG => Some(broker_config::get_broker_config(b)),
            rq::UPDATE_BROKER_CONFIG => Some(broker_config::update_broker_config(b, ch, &req)),
            rq::GET_ALL_CONSUMER_OFFSET => Some(admin::all_consumer_offset(b)),
            rq::GET_ALL_DELAY_OFFSET => Some(admin::all_delay_offset(b)),
            rq::GET_BROKER_RUNTIME_INFO => Some(admin_stats::runtime_info(b)),
            rq::GET_TOPIC_STATS_INFO => Some(admin_stats::topic_stats(b, &req)),
            rq::GET_CONSUME_STATS => Some(admin_stats::consume_stats(b, &req)),
            rq::GET_CONSUMER_CONNECTION_LIST => Some(admin_stats::consumer_connections(b, &req)),
            rq::GET_PRODUCER_CONNECTION_LIST => Some(admin_stats::producer_connections(b, &req)),
            rq::QUERY_TOPIC_CONSUME_BY_WHO => Some(admin_stats::topic_consumed_by(b, &req)),
            rq::QUERY_TOPICS_BY_CONSUMER => Some(admin_stats::topics_by_consumer(b, &req)),
            rq::INVOKE_BROKER_TO_RESET_OFFSET => Some(admin::reset_offset(b, &req)),
            rq::GET_CONSUMER_RUNNING_INFO | rq::CONSUME_MESSAGE_DIRECTLY => {
                admin::forward_to_client(b, ch, req)
            }
            _ => Some(Self::not_supported(&req)),
        }
    }

    fn on_disconnected(&self, ch: &Channel) {
        client_manage::channel_closed(&self.broker, ch);
    }
}
