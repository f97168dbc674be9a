//! Extension points for services hosted by the gateway later (presence, design §5): they see
//! session lifecycle events and may claim method and subscription names. The chat code calls
//! these hooks but never depends on what they do.

use futures::future::BoxFuture;
use serde_json::Value;

use chat_proto::ddp::MeteorError;

use super::conn::Conn;

/// What a hook knows about a session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// DDP session id.
    pub session: String,
    /// Logged-in user, if any.
    pub uid: Option<String>,
    /// Display name.
    pub username: Option<String>,
}

/// A gateway extension. Every method has a no-op default.
pub trait GatewayExtension: Send + Sync + 'static {
    /// A socket logged in (or switched user: `on_logout` of the old user comes first).
    fn on_login(&self, _s: &SessionInfo) {}
    /// A socket logged out or closed while logged in.
    fn on_logout(&self, _s: &SessionInfo) {}
    /// Any inbound frame of a logged-in socket (per-connection heartbeat for presence).
    fn on_activity(&self, _s: &SessionInfo) {}
    /// Handle method `name`, or return `None` to let the next handler (or 404) answer.
    fn method(
        &self,
        _conn: &std::sync::Arc<Conn>,
        _name: &str,
        _params: &[Value],
    ) -> Option<BoxFuture<'static, Result<Value, MeteorError>>> {
        None
    }
    /// Handle subscription `name`: `Some(Ok)` = ready, `Some(Err)` = nosub, `None` = not mine.
    fn subscribe(
        &self,
        _conn: &std::sync::Arc<Conn>,
        _sub_id: &str,
        _name: &str,
        _params: &[Value],
    ) -> Option<Result<(), MeteorError>> {
        None
    }
    /// A subscription this extension accepted was stopped.
    fn unsubscribe(&self, _conn: &std::sync::Arc<Conn>, _sub_id: &str) {}
    /// The gateway is stopping: every socket was closed (and `on_logout` called); flush
    /// whatever must still reach the broker. Awaited before the gateway's clients shut down.
    fn shutdown(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
