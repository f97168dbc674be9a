//! KV config: PUT/GET/DELETE_KV_CONFIG, GET_KVLIST_BY_NAMESPACE.

use mq_common::protocol::body::{to_json, KvTable};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, KvConfigKeyRequestHeader,
    PutKvConfigRequestHeader,
};
use mq_common::protocol::RemotingCommand;

use super::{header, Reply};
use crate::state::NamesrvState;

/// PUT_KV_CONFIG (100). A persist failure is reported (the value is set in memory).
pub(crate) fn put(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: PutKvConfigRequestHeader = header(request)?;
    s.kv.put(&h.namespace, &h.key, &h.value).map_err(|e| {
        tracing::error!(error = %e, "kv config not persisted");
        RemotingCommand::error(
            response::SYSTEM_ERROR,
            format!("kv config set in memory but not persisted: {e}"),
        )
    })?;
    Ok(Some(RemotingCommand::success()))
}

/// GET_KV_CONFIG (101): the value in the response header, or QUERY_NOT_FOUND.
pub(crate) fn get(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: KvConfigKeyRequestHeader = header(request)?;
    match s.kv.get(&h.namespace, &h.key) {
        Some(value) => Ok(Some(RemotingCommand::success_with_header(&GetKvConfigResponseHeader {
            value: Some(value),
        }))),
        None => Err(RemotingCommand::error(
            response::QUERY_NOT_FOUND,
            format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
        )),
    }
}

/// DELETE_KV_CONFIG (102).
pub(crate) fn delete(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: KvConfigKeyRequestHeader = header(request)?;
    s.kv.delete(&h.namespace, &h.key).map_err(|e| {
        tracing::error!(error = %e, "kv config not persisted");
        RemotingCommand::error(
            response::SYSTEM_ERROR,
            format!("kv config deleted in memory but not persisted: {e}"),
        )
    })?;
    Ok(Some(RemotingCommand::success()))
}

/// GET_KVLIST_BY_NAMESPACE (219): `{"table":{...}}`, or QUERY_NOT_FOUND.
pub(crate) fn list_namespace(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: GetKvListByNamespaceRequestHeader = header(request)?;
    match s.kv.namespace(&h.namespace) {
        Some(table) => Ok(Some(RemotingCommand::success().with_body(to_json(&KvTable { table })))),
        None => Err(RemotingCommand::error(
            response::QUERY_NOT_FOUND,
            format!("No config item, Namespace: {}", h.namespace),
        )),
    }
}
