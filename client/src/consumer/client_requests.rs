//! Requests brokers send to a consumer: NOTIFY_CONSUMER_IDS_CHANGED (rebalance now),
//! GET_CONSUMER_RUNNING_INFO (admin "consumerStatus"), RESET_CONSUMER_CLIENT_OFFSET
//! (admin "resetOffsetByTime" on a live group).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use mq_common::protocol::body::MessageQueue;
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::ResetOffsetRequestHeader;
use mq_common::protocol::{lenient_json, RemotingCommand};
use serde_json::{json, Value};

use super::push::PushInner;

/// Route broker-initiated requests to `inner` (held weakly: the consumer may be dropped).
pub(crate) fn install(inner: &Arc<PushInner>) {
    let weak: Weak<PushInner> = Arc::downgrade(inner);
    inner.inst.api.remoting().set_request_handler(Arc::new(move |ch, req| {
        let weak = weak.clone();
        Box::pin(async move {
            let me = weak.upgrade()?;
            let oneway = req.is_oneway();
            let resp = match req.code {
                request::NOTIFY_CONSUMER_IDS_CHANGED => {
                    tracing::debug!("consumer ids changed, rebalancing");
                    me.rebalance_now.notify_one();
                    RemotingCommand::success()
                }
                request::GET_CONSUMER_RUNNING_INFO => RemotingCommand::success()
                    .with_body(serde_json::to_vec(&me.running_info()).unwrap_or_default()),
                // These do network I/O or run the user's handler: this future runs on the
                // connection's reader task, so answer from another task instead of blocking it
                // (a reset commits offsets over this very connection).
                request::RESET_CONSUMER_CLIENT_OFFSET | request::CONSUME_MESSAGE_DIRECTLY => {
                    let opaque = req.opaque;
                    tokio::spawn(async move {
                        let resp = if req.code == request::RESET_CONSUMER_CLIENT_OFFSET {
                            me.reset_offsets(&req).await
                        } else {
                            me.consume_directly(&req).await
                        };
                        if !oneway {
                            ch.respond(opaque, resp);
                        }
                    });
                    return None;
                }
                code => RemotingCommand::error(
                    response::REQUEST_CODE_NOT_SUPPORTED,
                    format!(" request type {code} not supported"),
                ),
            };
            if oneway {
                None
            } else {
                Some(resp)
            }
        })
    }));
}

impl PushInner {
    /// Java `ConsumerRunningInfo`: properties, subscriptions and per-queue state. `mqTable` keys
    /// are the queues' JSON text (strict JSON; fastjson writes bare objects there).
    fn running_info(&self) -> Value {
        let mut mq_table = serde_json::Map::new();
        for e in self.pqs.iter() {
            let (min, max) = e.value().offset_span();
            let key = serde_json::to_string(e.key()).unwrap_or_default();
            mq_table.insert(
                key,
                json!({
                    "commitOffset": self.offsets.read_memory(e.key()).unwrap_or(-1),
                    "cachedMsgMinOffset": min,
                    "cachedMsgMaxOffset": max,
                    "cachedMsgCount": e.value().cached_count(),
                    "cachedMsgSizeInMiB": e.value().cached_bytes() / (1024 * 1024),
                    "droped": e.value().is_dropped(),
                    "locked": e.value().is_locked(self.cfg.lock_max_age),
                }),
            );
        }
        let props: BTreeMap<&str, String> = [
            ("PROP_CONSUME_TYPE", "CONSUME_PASSIVELY".to_string()),
            ("PROP_CONSUMEORDERLY", self.cfg.orderly.to_string()),
            ("PROP_THREADPOOL_CORE_SIZE", self.cfg.concurrency.to_string()),
            ("PROP_CONSUMER_START_TIMESTAMP", self.started_ms.to_string()),
            ("PROP_CLIENT_VERSION", "V4_9_4".to_string()),
            ("PROP_NAMESERVER_ADDR", self.inst.api.namesrv_addrs().join(";")),
            ("messageModel", self.cfg.model.java_name().to_string()),
            ("consumeFromWhere", self.cfg.consume_from.java_name().to_string()),
            ("consumerGroup", self.cfg.group.clone()),
            ("language", "RUST".to_string()),
        ]
        .into_iter()
        .collect();
        json!({
            "properties": props,
            "subscriptionSet": self.subs.read().values().cloned().collect::<Vec<_>>(),
            "mqTable": mq_table,
            "statusTable": {},
        })
    }

    /// CONSUME_MESSAGE_DIRECTLY (admin `queryMsgById -d`): run the handler on the message in
    /// the body and report the outcome (Java `ConsumeMessageDirectlyResult`).
    async fn consume_directly(&self, req: &RemotingCommand) -> RemotingCommand {
        let msgs = super::fetch::decode_records(&req.body);
        let Some(msg) = msgs.into_iter().next() else {
            return RemotingCommand::error(
                response::SYSTEM_ERROR,
                "no message in CONSUME_MESSAGE_DIRECTLY body",
            );
        };
        let started = std::time::Instant::now();
        let result = super::consume::call_handler(&*self.handler, msg).await;
        let (code, remark) = match &result {
            Ok(()) => ("CR_SUCCESS", String::new()),
            Err(e) => ("CR_LATER", e.to_string()),
        };
        let body = json!({
            "order": self.cfg.orderly,
            "autoCommit": true,
            "consumeResult": code,
            "remark": remark,
            "spentTimeMills": started.elapsed().as_millis() as i64,
        });
        RemotingCommand::success().with_body(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// Move the group's offsets of the given queues (body `{"offsetTable":{mq:offset}}`).
    async fn reset_offsets(self: &Arc<Self>, req: &RemotingCommand) -> RemotingCommand {
        let hdr: ResetOffsetRequestHeader = match req.decode_header() {
            Ok(h) => h,
            Err(e) => return RemotingCommand::error(response::INVALID_PARAMETER, e.to_string()),
        };
        let body: Value = match lenient_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => {
                return RemotingCommand::error(
                    response::INVALID_PARAMETER,
                    format!("bad reset body: {e}"),
                )
            }
        };
        let mut table: Vec<(MessageQueue, i64)> = Vec::new();
        if let Some(obj) = body.get("offsetTable").and_then(Value::as_object) {
            for (k, v) in obj {
                if let (Ok(mq), Some(off)) = (serde_json::from_str::<MessageQueue>(k), v.as_i64()) {
                    table.push((mq, off));
                }
            }
        }
        tracing::info!(topic = %hdr.topic, queues = table.len(), "resetting offsets on broker request");
        for (mq, off) in &table {
            if mq.topic != hdr.topic {
                continue;
            }
            if let Some((_, pq)) = self.pqs.remove(mq) {
                pq.set_dropped();
            }
            self.offsets.update(mq, *off, false);
        }
        let mqs: Vec<MessageQueue> = table.into_iter().map(|(m, _)| m).collect();
        self.offsets.persist(Some(&mqs)).await;
        for mq in &mqs {
            self.offsets.remove(mq);
        }
        self.rebalance_now.notify_one();
        RemotingCommand::success()
    }
}
