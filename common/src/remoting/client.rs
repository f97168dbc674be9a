//! The client side: one connection per remote address, requests matched to responses by
//! opaque, many in flight per connection, and a hook for requests the server sends us
//! (NOTIFY_CONSUMER_IDS_CHANGED, GET_CONSUMER_RUNNING_INFO, ...).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpStream;

use super::channel::{Channel, ChannelEvents, RemotingError};
use super::tls::TlsClient;
use crate::acl::Credentials;
use crate::protocol::codes::response;
use crate::protocol::frame::DEFAULT_MAX_FRAME;
use crate::protocol::RemotingCommand;

/// Boxed future returned by a [`ServerRequestHandler`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Handles requests a server sends to this client. Returns the response (ignored for oneway).
pub type ServerRequestHandler =
    Arc<dyn Fn(Channel, RemotingCommand) -> BoxFuture<Option<RemotingCommand>> + Send + Sync>;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Maximum frame accepted from servers.
    pub max_frame: usize,
    /// Sign every request with these (ACL 1.0 `AccessKey` + `Signature`), as Java's
    /// `AclClientRPCHook`.
    pub credentials: Option<Credentials>,
    /// Connect with TLS, verifying servers against these CAs.
    pub tls: Option<TlsClient>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(3),
            max_frame: DEFAULT_MAX_FRAME,
            credentials: None,
            tls: None,
        }
    }
}

struct ClientEvents {
    handler: Mutex<Option<ServerRequestHandler>>,
}

impl ChannelEvents for ClientEvents {
    fn on_request(
        &self,
        channel: &Channel,
        request: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send {
        let handler = self.handler.lock().clone();
        let channel = channel.clone();
        async move {
            match handler {
                Some(h) => h(channel, request).await,
                None => Some(RemotingCommand::error(
                    response::REQUEST_CODE_NOT_SUPPORTED,
                    format!(" request type {} not supported", request.code),
                )),
            }
        }
    }
}

struct Inner {
    config: ClientConfig,
    events: Arc<ClientEvents>,
    channels: Mutex<HashMap<String, Channel>>,
    /// Serializes connection setup per client so concurrent callers share one connection.
    connecting: tokio::sync::Mutex<()>,
}

/// A remoting client. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct RemotingClient {
    inner: Arc<Inner>,
}

impl RemotingClient {
    /// A client with no connections yet.
    pub fn new(config: ClientConfig) -> Self {
        RemotingClient {
            inner: Arc::new(Inner {
                config,
                events: Arc::new(ClientEvents { handler: Mutex::new(None) }),
                channels: Mutex::new(HashMap::new()),
                connecting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Install the handler for server-initiated requests.
    pub fn set_request_handler(&self, handler: ServerRequestHandler) {
        *self.inner.events.handler.lock() = Some(handler);
    }

    /// The live connection to `addr`, connecting if needed.
    pub async fn channel(&self, addr: &str) -> Result<Channel, RemotingError> {
        if let Some(ch) = self.live(addr) {
            return Ok(ch);
        }
        let _guard = self.inner.connecting.lock().await;
        if let Some(ch) = self.live(addr) {
            return Ok(ch);
        }
        let connect_err = |source| RemotingError::Connect { addr: addr.to_string(), source };
        let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        let timeout = self.inner.config.connect_timeout;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| connect_err(timed_out()))?
            .map_err(connect_err)?;
        let events = self.inner.events.clone();
        let max_frame = self.inner.config.max_frame;
        let ch = match &self.inner.config.tls {
            None => {
                Channel::spawn(stream, events, max_frame, None, None, Duration::ZERO)
                    .map_err(connect_err)?
                    .0
            }
            Some(tls) => {
                let addrs = (
                    stream.peer_addr().map_err(connect_err)?,
                    stream.local_addr().map_err(connect_err)?,
                );
                let local = tokio::time::timeout(timeout, tls.connect(addr, stream))
                    .await
                    .map_err(|_| connect_err(timed_out()))?
                    .map_err(connect_err)?;
                Channel::spawn_local(local, addrs, events, max_frame, None, None, Duration::ZERO).0
            }
        };
        self.inner.channels.lock().insert(addr.to_string(), ch.clone());
        Ok(ch)
    }

    fn live(&self, addr: &str) -> Option<Channel> {
        let mut map = self.inner.channels.lock();
        match map.get(addr) {
            Some(ch) if !ch.is_closed() => Some(ch.clone()),
            Some(_) => {
                map.remove(addr);
                None
            }
            None => None,
        }
    }

    /// Sign `request` when the client has credentials (both invoke paths call this).
    fn sign(&self, request: &mut RemotingCommand) {
        if let Some(c) = &self.inner.config.credentials {
            c.sign(request);
        }
    }

    /// Send a request to `addr` and wait for the response.
    pub async fn invoke(
        &self,
        addr: &str,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let ch = self.channel(addr).await?;
        self.sign(&mut request);
        ch.request(request, timeout).await
    }

    /// Send a oneway request to `addr`.
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        mut request: RemotingCommand,
    ) -> Result<(), RemotingError> {
        let ch = self.channel(addr).await?;
        self.sign(&mut request);
        if ch.send_oneway(request) {
            Ok(())
        } else {
            Err(RemotingError::Closed(addr.to_string()))
        }
    }

    /// Close the connection to `addr`, if any.
    pub fn close_channel(&self, addr: &str) {
        if let Some(ch) = self.inner.channels.lock().remove(addr) {
            ch.close();
        }
    }

    /// Close every connection.
    pub fn close_all(&self) {
        for (_, ch) in self.inner.channels.lock().drain() {
            ch.close();
        }
    }

    /// Addresses with a live connection.
    pub fn connected_addrs(&self) -> Vec<String> {
        self.inner
            .channels
            .lock()
            .iter()
            .filter(|(_, c)| !c.is_closed())
            .map(|(a, _)| a.clone())
            .collect()
    }
}
