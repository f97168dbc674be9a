//! Transactions over gRPC (spec §11): the half message of a transaction id is remembered at
//! send (and again when a check re-appends it), EndTransaction resolves it through the same
//! core as remoting END_TRANSACTION, and the broker's checker asks a gRPC producer of the
//! topic with `recover_orphaned_transaction_command` on its Telemetry stream.
//!
//! A transaction id also names where its half message is (`{messageId}@{commitLogOffset}.
//! {queueOffset}`, as Apache's proxy encodes the broker's offsets into its transaction ids),
//! so an EndTransaction after a broker restart, when the in-memory table is empty, still finds
//! it; ids ended that way are remembered so a repeated EndTransaction does not commit twice.

use bytes::Bytes;
use dashmap::DashMap;
use mq_common::message::sysflag;
use mq_common::protocol::codes::response;
use mq_common::protocol::header::EndTransactionRequestHeader;
use mq_common::protocol::{now_millis, RemotingCommand};
use mq_grpc_proto::v2::{
    telemetry_command::Command, Code, EndTransactionRequest, EndTransactionResponse,
    RecoverOrphanedTransactionCommand, TelemetryCommand, TransactionResolution, TransactionSource,
};

use super::convert::to_message;
use super::digest::DigestStyle;
use super::route::name;
use super::send::code_of_remoting;
use super::session::Session;
use super::status::{ok, status};
use super::GrpcService;
use crate::processor::transaction;

/// Forget a pending transaction after this long (the half message's checker takes over).
const TX_TTL_MS: i64 = 6 * 3600 * 1000;

#[derive(Clone, Copy)]
struct Half {
    phy: i64,
    queue_offset: i64,
    at: i64,
}

/// Transaction id → where its (latest) half message is.
#[derive(Default)]
pub struct TxTable {
    map: DashMap<String, (String, Half)>,
    /// Ids ended from their own offsets (not in `map`), with when.
    ended: DashMap<String, i64>,
}

/// The transaction id of a half message: its message id and where it is.
pub fn tx_id(message_id: &str, phy: i64, queue_offset: i64) -> String {
    format!("{message_id}@{phy}.{queue_offset}")
}

/// (commit-log offset, queue offset) a transaction id names.
fn offsets_of(tx_id: &str) -> Option<(i64, i64)> {
    let (_, at) = tx_id.rsplit_once('@')?;
    let (phy, qo) = at.split_once('.')?;
    Some((phy.parse().ok()?, qo.parse().ok()?))
}

impl TxTable {
    /// Remember the half message of `tx_id`.
    pub fn remember(&self, tx_id: &str, topic: &str, phy: i64, queue_offset: i64) {
        let now = now_millis();
        if self.map.len() > 100_000 {
            self.map.retain(|_, (_, h)| now - h.at < TX_TTL_MS);
        }
        self.map
            .insert(tx_id.to_string(), (topic.to_string(), Half { phy, queue_offset, at: now }));
    }

    fn take(&self, tx_id: &str) -> Option<(String, Half)> {
        self.map.remove(tx_id).map(|(_, v)| v)
    }

    /// The half message of an id not in the table (a restart emptied it), from the offsets
    /// the id names; `None` if it was already ended this way.
    fn half_named_by(&self, tx_id: &str) -> Option<Half> {
        let (phy, queue_offset) = offsets_of(tx_id)?;
        if self.ended.contains_key(tx_id) {
            return None;
        }
        Some(Half { phy, queue_offset, at: now_millis() })
    }

    fn mark_ended(&self, tx_id: &str) {
        let now = now_millis();
        if self.ended.len() > 100_000 {
            self.ended.retain(|_, at| now - *at < TX_TTL_MS);
        }
        self.ended.insert(tx_id.to_string(), now);
    }
}

/// Ask a gRPC producer to resolve a half message (the broker's checker calls this with the
/// re-appended copy). True if the command was queued on its Telemetry stream.
pub fn push_check(
    s: &Session,
    grpc: &super::GrpcState,
    record: &Bytes,
    tx_id: &str,
    topic: &str,
    phy: i64,
    queue_offset: i64,
) -> bool {
    let style = DigestStyle::of_language(&s.language);
    let Some(mut msg) = to_message(record, None, 0, &grpc.digests, style) else { return false };
    // The copy lives in the half topic; the client knows the message by its real topic.
    msg.topic = Some(mq_grpc_proto::v2::Resource {
        resource_namespace: String::new(),
        name: topic.to_string(),
    });
    if let Some(sp) = msg.system_properties.as_mut() {
        sp.message_type = mq_grpc_proto::v2::MessageType::Transaction as i32;
    }
    grpc.transactions.remember(tx_id, topic, phy, queue_offset);
    s.push(TelemetryCommand {
        status: ok(),
        command: Some(Command::RecoverOrphanedTransactionCommand(
            RecoverOrphanedTransactionCommand { message: Some(msg), transaction_id: tx_id.into() },
        )),
    })
}

impl GrpcService {
    /// EndTransaction.
    // `transaction::end` takes the remoting error response as its check's `Err` (the error
    // path is cold), as the remoting processors do.
    #[allow(clippy::result_large_err)]
    pub(crate) async fn end_transaction(
        &self,
        req: EndTransactionRequest,
    ) -> EndTransactionResponse {
        let topic = name(&req.topic).to_string();
        let tx_id =
            if req.transaction_id.is_empty() { &req.message_id } else { &req.transaction_id };
        let ty = match TransactionResolution::try_from(req.resolution) {
            Ok(TransactionResolution::Commit) => sysflag::TRANSACTION_COMMIT_TYPE,
            Ok(TransactionResolution::Rollback) => sysflag::TRANSACTION_ROLLBACK_TYPE,
            _ => {
                return EndTransactionResponse {
                    status: status(Code::BadRequest, "resolution must be COMMIT or ROLLBACK"),
                }
            }
        };
        let tables = &self.b.grpc.transactions;
        let (t, half, from_id) = match tables.take(tx_id) {
            Some((t, half)) => (t, half, false),
            // Producer group = topic (as at send).
            None => match tables.half_named_by(tx_id).filter(|_| !topic.is_empty()) {
                Some(half) => (topic.clone(), half, true),
                None => {
                    return EndTransactionResponse {
                        status: status(
                            Code::InvalidTransactionId,
                            format!("transaction '{tx_id}' is unknown or already ended"),
                        ),
                    }
                }
            },
        };
        if !topic.is_empty() && t != topic {
            self.b.grpc.transactions.remember(tx_id, &t, half.phy, half.queue_offset);
            return EndTransactionResponse {
                status: status(
                    Code::InvalidTransactionId,
                    format!("transaction '{tx_id}' is not of topic '{topic}'"),
                ),
            };
        }
        let h = EndTransactionRequestHeader {
            producer_group: t.clone(),
            tran_state_table_offset: half.queue_offset,
            commit_log_offset: half.phy,
            commit_or_rollback: ty,
            from_transaction_check: Some(req.source == TransactionSource::SourceServerCheck as i32),
            msg_id: Some(req.message_id.clone()),
            transaction_id: Some(tx_id.clone()),
        };
        // The half message's topic is the request's (checked above), which the RPC's ACL
        // check already allowed PUB on.
        let r = match transaction::end(&self.b, &h, |_| Ok(())) {
            Ok(None) => RemotingCommand::success(),
            Ok(Some(put)) => transaction::answer(self.b.ha.replicated(put.durable().await).await),
            Err(r) => r,
        };
        match r.code {
            response::SUCCESS => {
                if from_id {
                    tables.mark_ended(tx_id);
                }
                EndTransactionResponse { status: ok() }
            }
            // The id names no half message of this topic: say so as for an unknown id.
            _ if from_id => EndTransactionResponse {
                status: status(
                    Code::InvalidTransactionId,
                    format!("transaction '{tx_id}': {}", r.remark.unwrap_or_default()),
                ),
            },
            c => EndTransactionResponse {
                status: status(code_of_remoting(c), r.remark.unwrap_or_default()),
            },
        }
    }
}
