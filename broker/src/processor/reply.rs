//! SEND_REPLY_MESSAGE (324) / SEND_REPLY_MESSAGE_V2 (325): the reply of a request-reply
//! exchange is pushed to the requesting client (property REPLY_TO_CLIENT = its clientID) with
//! PUSH_REPLY_MESSAGE_TO_CLIENT (326), then stored like a normal message. The push waits for
//! the client's answer, so it runs on its own task and the response follows via `ch.respond`.

use std::sync::Arc;
use std::time::Duration;

use mq_common::message::property::{self, REPLY_TO_CLIENT};
use mq_common::message::MessageExtBrokerInner;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::{
    ReplyMessageRequestHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
    SendMessageResponseHeader,
};
use mq_common::protocol::{now_millis, CommandHeader, RemotingCommand};
use mq_common::remoting::Channel;

use super::send::{add_cluster, check, status_code};
use super::{err, Reply};
use crate::broker::Broker;
use crate::store::{PutMessageResult, PutMessageStatus};

/// PUSH_REPLY_MESSAGE_TO_CLIENT.
pub const PUSH_REPLY_MESSAGE_TO_CLIENT: i32 = 326;
/// Property stamped on the pushed reply.
const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";

/// Process a reply send.
pub fn process(b: &Arc<Broker>, ch: &Channel, req: RemotingCommand) -> Reply {
    let decoded = if req.code == rq::SEND_REPLY_MESSAGE_V2 && !req.ext_fields.contains_key("topic")
    {
        SendMessageRequestHeaderV2::read(&req.ext_fields).map(Into::into)
    } else {
        SendMessageRequestHeader::read(&req.ext_fields)
    };
    let h = match decoded {
        Ok(h) => h,
        Err(e) => {
            return Err(err(response::SYSTEM_ERROR, format!("bad reply request header: {e}")))
        }
    };
    let (h, queue_id, _multi, _) = check(b, h, ch.peer_addr().ip())?;
    let props = h.properties.clone().unwrap_or_default();
    let Some(sender) = property::get_property(&props, REPLY_TO_CLIENT).map(str::to_string) else {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("reply message properties[{REPLY_TO_CLIENT}] is null"),
        ));
    };
    let Some(target) = b.producers.find_client(&sender).and_then(|c| c.channel.remoting().cloned())
    else {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("push reply message fail, channel of <{sender}> not found."),
        ));
    };
    let mut pushed_props = props.clone();
    property::set_property(&mut pushed_props, PUSH_REPLY_TIME, &now_millis().to_string());
    let push_hdr = ReplyMessageRequestHeader {
        producer_group: h.producer_group.clone(),
        topic: h.topic.clone(),
        default_topic: h.default_topic.clone(),
        default_topic_queue_nums: h.default_topic_queue_nums,
        queue_id,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        flag: h.flag,
        properties: Some(pushed_props),
        reconsume_times: h.reconsume_times,
        unit_mode: h.unit_mode,
        born_host: ch.peer_addr().to_string(),
        store_host: b.store_host.to_string(),
        store_timestamp: now_millis(),
    };
    let push = RemotingCommand::request_with_header(PUSH_REPLY_MESSAGE_TO_CLIENT, &push_hdr)
        .with_body(req.body.clone());
    let mut msg = MessageExtBrokerInner {
        topic: h.topic.clone(),
        queue_id,
        flag: h.flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: ch.peer_addr(),
        store_host: b.store_host,
        reconsume_times: h.reconsume_times.unwrap_or(0),
        body: req.body.clone(),
        properties: add_cluster(b, props),
        ..Default::default()
    };
    // The push is immediate; the stored copy honours a timer, as Java's store hook does.
    let timed = b.timer.intercept(&mut msg);
    let (b, ch, opaque) = (b.clone(), ch.clone(), req.opaque);
    tokio::spawn(async move {
        let resp = match target.request(push, Duration::from_secs(3)).await {
            Ok(r) if r.code == response::SUCCESS => {
                // Stored too (Java's storeReplyMessageEnable default) and, as a send, answered
                // only once durable under SYNC_FLUSH; the answer's code is the put's.
                let put = match timed {
                    Ok(_) => b.ha.replicated(b.store.put_message(msg).durable().await).await,
                    Err(e) => {
                        PutMessageResult::failed(PutMessageStatus::MessageIllegal, e.to_string())
                    }
                };
                let (code, remark) = status_code(put.status);
                if !put.status.is_stored() {
                    let remark = format!("{}: {}", remark.unwrap_or_default(), put.remark);
                    err(code, remark)
                } else {
                    let hdr = SendMessageResponseHeader {
                        msg_id: put.msg_id,
                        queue_id,
                        queue_offset: put.queue_offset,
                        msg_region: Some("DefaultRegion".into()),
                        trace_on: Some("true".into()),
                        ..Default::default()
                    };
                    let mut r = RemotingCommand::success_with_header(&hdr);
                    r.code = code;
                    r
                }
            }
            Ok(r) => err(
                response::SYSTEM_ERROR,
                format!("push reply message to {sender} fail: {}", r.remark.unwrap_or_default()),
            ),
            Err(e) => {
                err(response::SYSTEM_ERROR, format!("push reply message to {sender} fail: {e}"))
            }
        };
        ch.respond(opaque, resp);
    });
    Ok(None)
}
