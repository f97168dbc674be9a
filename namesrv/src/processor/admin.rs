//! Admin requests: WIPE/ADD_WRITE_PERM_OF_BROKER, UPDATE/GET_NAMESRV_CONFIG.

use mq_common::config::{parse_properties, ConfigKeys, SECRET_KEYS, WIRE_FORBIDDEN_KEYS};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    AddWritePermResponseHeader, BrokerPermRequestHeader, WipeWritePermResponseHeader,
};
use mq_common::protocol::RemotingCommand;

use super::{header, Reply};
use crate::config::RUNTIME_BLACKLIST;
use crate::state::NamesrvState;

/// WIPE_WRITE_PERM_OF_BROKER (205, `add = false`) / ADD_WRITE_PERM_OF_BROKER (327).
pub(crate) fn write_perm(s: &NamesrvState, request: &RemotingCommand, add: bool) -> Reply {
    let h: BrokerPermRequestHeader = header(request)?;
    let n = s.routes.change_write_perm(&h.broker_name, add);
    tracing::info!(broker = %h.broker_name, topics = n, add, "write permission changed");
    Ok(Some(if add {
        RemotingCommand::success_with_header(&AddWritePermResponseHeader { add_topic_count: n })
    } else {
        RemotingCommand::success_with_header(&WipeWritePermResponseHeader { wipe_topic_count: n })
    }))
}

/// UPDATE_NAMESRV_CONFIG (318): body is properties text. All-or-nothing: any invalid value,
/// unknown key or blacklisted key rejects the whole update. Not persisted to the config file.
pub(crate) fn update_config(s: &NamesrvState, request: &RemotingCommand) -> Reply {
    let bad = |m: String| RemotingCommand::error(response::SYSTEM_ERROR, m);
    let text =
        std::str::from_utf8(&request.body).map_err(|_| bad("config body is not UTF-8".into()))?;
    let props = parse_properties(text).map_err(|e| bad(format!("bad config body: {e}")))?;
    if let Some((k, _)) = props.iter().find(|(k, _)| {
        RUNTIME_BLACKLIST.contains(&k.as_str()) || WIRE_FORBIDDEN_KEYS.contains(&k.as_str())
    }) {
        return Err(RemotingCommand::error(
            response::NO_PERMISSION,
            format!("Can not update config in black list: {k}"),
        ));
    }
    let mut cfg = s.config.read().clone();
    for (k, v) in &props {
        match cfg.apply(k, v) {
            Ok(true) => {}
            Ok(false) => return Err(bad(format!("unknown config key '{k}'"))),
            Err(why) => {
                return Err(bad(format!("invalid value '{v}' for config key '{k}': {why}")))
            }
        }
    }
    cfg.validate().map_err(bad)?;
    tracing::info!(?props, "namesrv config updated");
    *s.config.write() = cfg;
    Ok(Some(RemotingCommand::success()))
}

/// GET_NAMESRV_CONFIG (319): every key as `key=value` lines (secrets masked).
pub(crate) fn get_config(s: &NamesrvState) -> Reply {
    let mut text = String::new();
    for e in s.config.read().entries() {
        let masked = SECRET_KEYS.contains(&e.key) && !e.value.is_empty();
        text.push_str(&format!("{}={}\n", e.key, if masked { "****" } else { &e.value }));
    }
    Ok(Some(RemotingCommand::success().with_body(text.into_bytes())))
}
