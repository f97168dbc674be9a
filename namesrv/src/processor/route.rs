//! Route and topic queries: GET_ROUTEINFO_BY_TOPIC, GET_BROKER_CLUSTER_INFO, topic lists,
//! DELETE_TOPIC_IN_NAMESRV, REGISTER_TOPIC_IN_NAMESRV (spec §2.10, §5.4).

use mq_common::protocol::body::{to_json, TopicRouteData};
use mq_common::protocol::codes::{request as req, response};
use mq_common::protocol::header::{
    DeleteTopicFromNamesrvRequestHeader, GetRouteInfoRequestHeader, GetTopicsByClusterRequestHeader,
};
use mq_common::protocol::{lenient_json, RemotingCommand};

use super::{header, Reply};
use crate::kv_config::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::route_info::{FLAG_UNIT, FLAG_UNIT_SUB};
use crate::state::NamesrvState;

mq_common::command_header! {
    /// REGISTER_TOPIC_IN_NAMESRV (217) request.
    pub struct RegisterTopicRequestHeader {
        /// Topic.
        topic: String => "topic",
    }
}

/// GET_ROUTEINFO_BY_TOPIC (105). Always strict, compact JSON (quoted numeric keys) whatever
/// the client's version: every client parses it (spec §2.10).
pub(crate) fn get_route(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: GetRouteInfoRequestHeader = header(request)?;
    let Some(mut route) = s.routes.topic_route(&h.topic) else {
        return Err(RemotingCommand::error(
            response::TOPIC_NOT_EXIST,
            format!("No topic route info in name server for the topic: {}", h.topic),
        ));
    };
    if s.config.read().order_message_enable {
        route.order_topic_conf = s.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
    }
    Ok(Some(RemotingCommand::success().with_body(to_json(&route))))
}

/// GET_BROKER_CLUSTER_INFO (106).
pub(crate) fn cluster_info(s: &NamesrvState) -> Reply {
    Ok(Some(RemotingCommand::success().with_body(to_json(&s.routes.cluster_info()))))
}

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206), unless `enableAllTopicList=false`.
pub(crate) fn all_topics(s: &NamesrvState) -> Reply {
    if !s.config.read().enable_all_topic_list {
        return Err(RemotingCommand::error(response::SYSTEM_ERROR, "disable"));
    }
    Ok(Some(RemotingCommand::success().with_body(to_json(&s.routes.all_topics()))))
}

fn topic_list_enabled(s: &NamesrvState) -> Result<(), RemotingCommand> {
    if s.config.read().enable_topic_list {
        Ok(())
    } else {
        Err(RemotingCommand::error(response::SYSTEM_ERROR, "disable"))
    }
}

/// GET_TOPICS_BY_CLUSTER (224).
pub(crate) fn topics_by_cluster(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    topic_list_enabled(s)?;
    let h: GetTopicsByClusterRequestHeader = header(request)?;
    Ok(Some(RemotingCommand::success().with_body(to_json(&s.routes.topics_by_cluster(&h.cluster)))))
}

/// GET_SYSTEM_TOPIC_LIST_FROM_NS (304).
pub(crate) fn system_topics(s: &NamesrvState) -> Reply {
    Ok(Some(RemotingCommand::success().with_body(to_json(&s.routes.system_topics()))))
}

/// GET_UNIT_TOPIC_LIST (311), GET_HAS_UNIT_SUB_TOPIC_LIST (312),
/// GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST (313): topics filtered by unit sys flags.
pub(crate) fn unit_topics(s: &NamesrvState, code: i32) -> Reply {
    topic_list_enabled(s)?;
    let list = match code {
        req::GET_UNIT_TOPIC_LIST => s.routes.topics_by_sys_flag(|f| f & FLAG_UNIT != 0),
        req::GET_HAS_UNIT_SUB_TOPIC_LIST => s.routes.topics_by_sys_flag(|f| f & FLAG_UNIT_SUB != 0),
        _ => s.routes.topics_by_sys_flag(|f| f & FLAG_UNIT == 0 && f & FLAG_UNIT_SUB != 0),
    };
    Ok(Some(RemotingCommand::success().with_body(to_json(&list))))
}

/// DELETE_TOPIC_IN_NAMESRV (216): the whole topic, or only on one cluster's brokers.
pub(crate) fn delete_topic(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: DeleteTopicFromNamesrvRequestHeader = header(request)?;
    let removed = s.routes.delete_topic(&h.topic, h.cluster_name.as_deref());
    tracing::info!(topic = %h.topic, cluster = ?h.cluster_name, removed, "delete topic in namesrv");
    Ok(Some(RemotingCommand::success()))
}

/// REGISTER_TOPIC_IN_NAMESRV (217, 5.x): body is a TopicRouteData whose queueDatas are added.
pub(crate) fn register_topic(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: RegisterTopicRequestHeader = header(request)?;
    if request.body.is_empty() {
        return Ok(Some(RemotingCommand::success()));
    }
    let route: TopicRouteData = lenient_json::from_slice(&request.body).map_err(|e| {
        RemotingCommand::error(response::SYSTEM_ERROR, format!("bad topic route body: {e}"))
    })?;
    s.routes
        .register_topic(&h.topic, &route.queue_datas)
        .map_err(|e| RemotingCommand::error(response::SYSTEM_ERROR, e))?;
    Ok(Some(RemotingCommand::success()))
}
