//! Application status (`Status{code, message}` inside every response, spec §4) and the counter
//! of answers per (RPC, code) for metrics.

use std::collections::BTreeMap;

use mq_grpc_proto::v2::{Code, Status};
use parking_lot::Mutex;

/// `Status{OK}`.
pub fn ok() -> Option<Status> {
    Some(Status { code: Code::Ok as i32, message: "OK".into() })
}

/// A status with a code and message.
pub fn status(code: Code, message: impl Into<String>) -> Option<Status> {
    Some(Status { code: code as i32, message: message.into() })
}

/// Overall status of several per-entry results: OK if all OK, the single code if all equal,
/// else MULTIPLE_RESULTS.
pub fn overall<'a>(entries: impl Iterator<Item = &'a Option<Status>>) -> Option<Status> {
    let mut first: Option<&Status> = None;
    for s in entries.flatten() {
        match first {
            None => first = Some(s),
            Some(f) if f.code != s.code => {
                return status(Code::MultipleResults, "entries have different results")
            }
            _ => {}
        }
    }
    match first {
        Some(f) => Some(f.clone()),
        None => ok(),
    }
}

/// Answers per (RPC, code), for `GET_BROKER_RUNTIME_INFO` and the console.
#[derive(Default)]
pub struct RpcCounters {
    table: Mutex<BTreeMap<(&'static str, i32), u64>>,
}

impl RpcCounters {
    /// Count one answer.
    pub fn count(&self, rpc: &'static str, status: &Option<Status>) {
        let code = status.as_ref().map(|s| s.code).unwrap_or(0);
        *self.table.lock().entry((rpc, code)).or_default() += 1;
    }

    /// `rpc code=count` pairs, sorted.
    pub fn snapshot(&self) -> Vec<(String, i32, u64)> {
        self.table.lock().iter().map(|((r, c), n)| (r.to_string(), *c, *n)).collect()
    }
}
