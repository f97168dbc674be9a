//! Broker registration family: REGISTER_BROKER, UNREGISTER_BROKER, BROKER_HEARTBEAT,
//! QUERY_DATA_VERSION (spec §5.2, §5.3).

use std::time::Duration;

use mq_common::message::crc32_masked;
use mq_common::protocol::body::{
    to_json, DataVersion, KvTable, RegisterBrokerBody, TopicConfigSerializeWrapper,
};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    BrokerHeartbeatRequestHeader, QueryDataVersionRequestHeader, QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::Channel;

use super::{header, Reply};
use crate::kv_config::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::route_info::Registration;
use crate::state::NamesrvState;

/// Decode a REGISTER_BROKER body: JSON (fastjson-tolerant) or the compressed form. A body from
/// a pre-3.0.11 broker is the bare `TopicConfigSerializeWrapper`; an empty body registers no
/// topics with data version 0.
pub(crate) fn decode_register_body(
    body: &[u8],
    compressed: bool,
) -> Result<RegisterBrokerBody, String> {
    if body.is_empty() {
        return Ok(RegisterBrokerBody::default());
    }
    if compressed {
        return RegisterBrokerBody::decode_compressed(body);
    }
    let value: serde_json::Value =
        lenient_json::from_slice(body).map_err(|e| format!("register body is not JSON: {e}"))?;
    if value.get("topicConfigSerializeWrapper").is_none() && value.get("topicConfigTable").is_some()
    {
        let w: TopicConfigSerializeWrapper =
            serde_json::from_value(value).map_err(|e| format!("bad topic config wrapper: {e}"))?;
        return Ok(RegisterBrokerBody {
            topic_config_serialize_wrapper: w,
            filter_server_list: vec![],
        });
    }
    serde_json::from_value(value).map_err(|e| format!("bad register body: {e}"))
}

/// REGISTER_BROKER (103).
pub(crate) fn register(s: &NamesrvState, channel: &Channel, request: &RemotingCommand) -> Reply {
    let h: RegisterBrokerRequestHeader = header(request)?;
    if let Some(expected) = h.body_crc32.filter(|c| *c != 0) {
        let actual = crc32_masked(&request.body);
        if actual != expected {
            tracing::warn!(broker = %h.broker_addr, expected, actual, "register body crc32 mismatch");
            return Err(RemotingCommand::error(response::SYSTEM_ERROR, "crc32 not match"));
        }
    }
    let body = decode_register_body(&request.body, h.compressed.unwrap_or(false)).map_err(|e| {
        tracing::warn!(broker = %h.broker_addr, error = %e, "bad register body");
        RemotingCommand::error(response::SYSTEM_ERROR, e)
    })?;
    let (default_timeout, delete_missing) = {
        let c = s.config.read();
        (c.broker_expiry(), c.delete_topic_with_broker_registration)
    };
    let timeout = h
        .heartbeat_timeout_millis
        .filter(|t| *t > 0)
        .map(|t| Duration::from_millis(t as u64))
        .unwrap_or(default_timeout);
    let result = s.routes.register_broker(Registration {
        cluster: h.cluster_name,
        broker_addr: h.broker_addr,
        broker_name: h.broker_name,
        broker_id: h.broker_id,
        ha_server_addr: h.ha_server_addr,
        timeout,
        topics: body.topic_config_serialize_wrapper,
        filter_server_list: body.filter_server_list,
        channel: Some(channel.clone()),
        delete_missing_topics: delete_missing,
        enable_acting_master: h.enable_acting_master.unwrap_or(false),
    });
    let mut resp = RemotingCommand::success_with_header(&RegisterBrokerResponseHeader {
        ha_server_addr: result.ha_server_addr,
        master_addr: result.master_addr,
    });
    if let Some(table) = s.kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG) {
        resp = resp.with_body(to_json(&KvTable { table }));
    }
    Ok(Some(resp))
}

/// UNREGISTER_BROKER (104).
pub(crate) fn unregister(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: UnregisterBrokerRequestHeader = header(request)?;
    let removed = s.routes.unregister_broker(&h.cluster_name, &h.broker_addr, &h.broker_name);
    // The broker is shutting down; its registration connection no longer identifies it.
    drop(removed.channel);
    Ok(Some(RemotingCommand::success()))
}

/// BROKER_HEARTBEAT (904, 5.x): refresh liveness only.
pub(crate) fn heartbeat(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: BrokerHeartbeatRequestHeader = header(request)?;
    if !s.routes.touch(&h.cluster_name, &h.broker_addr) {
        tracing::debug!(addr = %h.broker_addr, "heartbeat from an unregistered broker");
    }
    Ok(Some(RemotingCommand::success()))
}

/// QUERY_DATA_VERSION (322): `changed` says whether the broker's version differs from the one
/// registered; an unchanged broker's liveness is refreshed. Body: the registered version.
pub(crate) fn query_data_version(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: QueryDataVersionRequestHeader = header(request)?;
    let version: DataVersion = if request.body.is_empty() {
        DataVersion::default()
    } else {
        lenient_json::from_slice(&request.body).map_err(|e| {
            RemotingCommand::error(response::SYSTEM_ERROR, format!("bad data version body: {e}"))
        })?
    };
    let changed = s.routes.is_version_changed(&h.cluster_name, &h.broker_addr, &version);
    if !changed {
        s.routes.touch(&h.cluster_name, &h.broker_addr);
    }
    let mut resp = RemotingCommand::success_with_header(&QueryDataVersionResponseHeader {
        changed: Some(changed),
    });
    if let Some(v) = s.routes.data_version(&h.cluster_name, &h.broker_addr) {
        resp = resp.with_body(to_json(&v));
    }
    Ok(Some(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::protocol::body::TopicConfig;

    #[test]
    fn register_body_forms() {
        let mut b = RegisterBrokerBody::default();
        b.topic_config_serialize_wrapper
            .topic_config_table
            .insert("T".into(), TopicConfig::new("T", 4, 6));
        b.topic_config_serialize_wrapper.data_version.counter = 7;
        let json = serde_json::to_vec(&b).unwrap();
        assert_eq!(decode_register_body(&json, false).unwrap(), b);
        assert_eq!(decode_register_body(&b.encode_compressed(), true).unwrap(), b);
        let legacy = serde_json::to_vec(&b.topic_config_serialize_wrapper).unwrap();
        assert_eq!(decode_register_body(&legacy, false).unwrap(), b);
        assert_eq!(decode_register_body(b"", false).unwrap(), RegisterBrokerBody::default());
        assert!(decode_register_body(b"{oops", false).is_err());
        assert!(decode_register_body(b"\x00\x01", true).is_err());
    }
}
