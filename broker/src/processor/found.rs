//! The ACL check of a message a request reached by commit-log offset (VIEW_MESSAGE_BY_ID,
//! CONSUMER_SEND_MSG_BACK, END_TRANSACTION): such a request names no topic, or names one it
//! need not be about, so the pre-dispatch check cannot see what it reads. The processor calls
//! [`may_access`] with the topic of the record it found before answering with or acting on it.

use std::time::Duration;

use mq_common::acl::Perm;
use mq_common::log_limit::LogLimiter;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::Channel;

use crate::broker::Broker;

/// One warning per 10 s for these denials, as for the pre-dispatch ones.
static DENIAL_LOG: LogLimiter = LogLimiter::new(Duration::from_secs(10));

/// `Ok` when ACL is off or the caller of `req` may have `needed` on `topic` (the found
/// record's); else the denial response (Java's SYSTEM_ERROR + `AclException` remark), to be
/// returned instead of any message data.
pub(crate) fn may_access(
    b: &Broker,
    ch: &Channel,
    req: &RemotingCommand,
    topic: &str,
    needed: Perm,
) -> Result<(), RemotingCommand> {
    let Some(acl) = &b.acl else { return Ok(()) };
    acl.authorize_found(req, ch.peer_addr().ip(), topic, needed).map_err(|d| {
        if let Some(suppressed) = DENIAL_LOG.allow() {
            tracing::warn!(peer = %ch.peer_addr(), code = req.code, reason = %d, suppressed, "request denied by ACL (found record's topic)");
        }
        d.response()
    })
}
