//! The one shape of a request processor's answer, in the broker and the name server alike.

use crate::protocol::codes::response;
use crate::protocol::{CommandHeader, RemotingCommand};

/// What a request processor (and [`RequestHandler::handle`](super::RequestHandler::handle))
/// returns:
///
/// * `Ok(Some(response))`: send this response now;
/// * `Ok(None)`: nothing to send now: the processor answers later with
///   [`Channel::respond`](super::Channel::respond) (long polling, SYNC_FLUSH group commit, a
///   request forwarded to a client), or the request needs no answer;
/// * `Err(response)`: an error response, sent now. Being an `Err` lets `?` end a processor
///   early, e.g. on a bad header ([`header`]).
///
/// Both arms carry a whole command: the error path is cold and boxing it would buy nothing.
pub type Reply = Result<Option<RemotingCommand>, RemotingCommand>;

/// Decode a request's custom header. A missing or invalid field becomes the SYSTEM_ERROR
/// response whose remark names the field (what the Java server answers on a
/// `RemotingCommandException`), ready for `?` in a processor.
#[allow(clippy::result_large_err)]
pub fn header<H: CommandHeader>(request: &RemotingCommand) -> Result<H, RemotingCommand> {
    request.decode_header::<H>().map_err(|e| {
        tracing::debug!(code = request.code, error = %e, "bad request header");
        RemotingCommand::error(response::SYSTEM_ERROR, format!("bad request header: {e}"))
    })
}
