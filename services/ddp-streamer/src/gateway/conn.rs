//! One WebSocket: DDP handshake, heartbeat (ping after `HEARTBEAT_INTERVAL` of silence, close
//! 4000 after `CONNECTION_TIMEOUT`), frame dispatch and a bounded outbound queue.
//!
//! Three tasks per socket: the reader (this module's [`serve`]), the writer (drains the
//! outbound queue into the socket) and the worker (runs methods and subscriptions one at a
//! time, in arrival order, as Rocket.Chat's `Client.enqueue` does, so a slow `sendMessage`
//! never delays pong replies).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chat_proto::cursor::Cursor;
use chat_proto::ddp::{close, parse_client, server, ClientFrame, FrameError};
use chat_proto::jwt::Claims;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::extension::SessionInfo;
use super::state::Gateway;

/// A logged-in identity.
#[derive(Debug, Clone)]
pub struct Auth {
    /// Verified claims.
    pub claims: Claims,
    /// The raw token (forwarded to the observer as a message property).
    pub token: String,
}

/// A stream subscription of a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sub {
    /// `stream-room-messages` of one room.
    Room(String),
    /// `stream-room-messages` `__my_messages__`: every message addressed to the user.
    MyMessages,
    /// `stream-notify-user` `<uid>/<event>` (only the socket's own uid is accepted).
    NotifyUser(String),
    /// Owned by an extension.
    Extension,
}

/// Mutable per-socket state.
#[derive(Debug, Default)]
pub struct ConnState {
    /// Identity after `login`.
    pub auth: Option<Auth>,
    /// Subscriptions by DDP sub id.
    pub subs: HashMap<String, Sub>,
    /// Newest inbox cursor pushed per room: events at or below it are not pushed again.
    pub last_cursor: HashMap<String, Cursor>,
}

/// A socket as seen by the rest of the gateway.
pub struct Conn {
    /// Connection number (registry key).
    pub id: u64,
    /// DDP session id.
    pub session: String,
    tx: mpsc::Sender<(String, usize)>,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    /// Cancelled when the socket must close; `close_code` says how.
    pub closing: CancellationToken,
    close_code: Mutex<Option<(u16, String)>>,
    /// Mutable state.
    pub state: Mutex<ConnState>,
}

impl Conn {
    /// Queue a frame. A full queue (slow reader) closes the socket with 1013 instead of
    /// blocking the caller, so one slow browser never stalls the inbox consumer.
    pub fn send(&self, frame: &Value) -> bool {
        if self.closing.is_cancelled() {
            return false;
        }
        let text = frame.to_string();
        let len = text.len();
        if self.queued_bytes.load(Ordering::Relaxed) + len > self.max_bytes {
            self.close(close::TRY_AGAIN_LATER, "slow consumer");
            return false;
        }
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if self.tx.try_send((text, len)).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.close(close::TRY_AGAIN_LATER, "slow consumer");
            return false;
        }
        true
    }

    /// Ask the socket to close with `code` (the first reason wins).
    pub fn close(&self, code: u16, reason: &str) {
        let mut c = self.close_code.lock();
        if c.is_none() {
            *c = Some((code, reason.to_string()));
        }
        drop(c);
        self.closing.cancel();
    }

    /// The logged-in user id.
    pub fn uid(&self) -> Option<String> {
        self.state.lock().auth.as_ref().map(|a| a.claims.sub.clone())
    }

    /// The logged-in identity.
    pub fn auth(&self) -> Option<Auth> {
        self.state.lock().auth.clone()
    }

    /// What extensions are told about this session.
    pub fn info(&self) -> SessionInfo {
        let st = self.state.lock();
        SessionInfo {
            session: self.session.clone(),
            uid: st.auth.as_ref().map(|a| a.claims.sub.clone()),
            username: st.auth.as_ref().map(|a| a.claims.username().to_string()),
        }
    }
}

fn session_id() -> String {
    let b: [u8; 16] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Work for the per-socket worker task.
enum Job {
    Method { id: String, method: String, params: Vec<Value> },
    Sub { id: String, name: String, params: Vec<Value> },
    Unsub { id: String },
}

/// Serve one upgraded socket until it closes. The caller already counted it in `active`.
pub async fn serve(gw: Arc<Gateway>, socket: WebSocket) {
    let id = gw.next_conn_id();
    let (out_tx, mut out_rx) = mpsc::channel::<(String, usize)>(gw.cfg.max_outbound_frames.max(16));
    let conn = Arc::new(Conn {
        id,
        session: session_id(),
        tx: out_tx,
        queued_bytes: AtomicUsize::new(0),
        max_bytes: gw.cfg.max_buffered_bytes,
        closing: CancellationToken::new(),
        close_code: Mutex::new(None),
        state: Mutex::new(ConnState::default()),
    });
    gw.conns.insert(id, conn.clone());
    gw.metrics.set("ddp_connections", gw.conns.len() as i64);
    let (mut sink, mut stream) = socket.split();

    // Writer: drains the queue; on close, sends the close frame (bounded wait: a reader that
    // never reads cannot hold the task forever).
    let wconn = conn.clone();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = wconn.closing.cancelled() => break,
                next = out_rx.recv() => match next {
                    Some((text, len)) => {
                        let r = tokio::select! {
                            r = sink.send(Message::Text(text.into())) => r,
                            _ = wconn.closing.cancelled() => break,
                        };
                        wconn.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                        if r.is_err() {
                            wconn.close(close::GOING_AWAY, "write failed");
                            return;
                        }
                    }
                    None => break,
                },
            }
        }
        let (code, reason) =
            wconn.close_code.lock().clone().unwrap_or((close::GOING_AWAY, String::new()));
        let frame = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            // Flush what is queued only if the socket is not the reason we are closing.
            if code != close::TRY_AGAIN_LATER {
                while let Ok((text, _)) = out_rx.try_recv() {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
            }
            let _ = sink.send(frame).await;
            let _ = sink.close().await;
        })
        .await;
    });

    // Worker: methods and subscriptions, one at a time.
    let (job_tx, mut job_rx) = mpsc::unbounded_channel::<Job>();
    let (wgw, wk) = (gw.clone(), conn.clone());
    let worker = tokio::spawn(async move {
        while let Some(job) = job_rx.recv().await {
            if wk.closing.is_cancelled() {
                break;
            }
            match job {
                Job::Method { id, method, params } => {
                    super::methods::run(&wgw, &wk, &id, &method, params).await
                }
                Job::Sub { id, name, params } => {
                    super::subs::subscribe(&wgw, &wk, &id, &name, &params)
                }
                Job::Unsub { id } => super::subs::unsubscribe(&wgw, &wk, &id),
            }
        }
    });

    read_loop(&gw, &conn, &mut stream, &job_tx).await;
    conn.closing.cancel();
    drop(job_tx);
    worker.abort();
    // Wait for it to stop (at its next await): a subscription it is adding must be in place
    // before the room indexes are cleaned below.
    let _ = worker.await;
    let _ = writer.await;

    // Unregister.
    if let Some(uid) = conn.uid() {
        gw.unbind_user(&uid, id);
        let info = conn.info();
        for ext in &gw.extensions {
            ext.on_logout(&info);
        }
    }
    super::subs::leave_all_rooms(&gw, &conn);
    gw.conns.remove(&id);
    gw.active.fetch_sub(1, Ordering::SeqCst);
    gw.metrics.set("ddp_connections", gw.conns.len() as i64);
    let closed_with = conn.close_code.lock().clone();
    if let Some((code, reason)) = closed_with {
        if code == close::TRY_AGAIN_LATER {
            gw.metrics.inc("ddp_slow_consumer_closed_total");
        }
        tracing::debug!(conn = id, code, reason, "socket closed");
    }
}

async fn read_loop(
    gw: &Arc<Gateway>,
    conn: &Arc<Conn>,
    stream: &mut futures::stream::SplitStream<WebSocket>,
    jobs: &mpsc::UnboundedSender<Job>,
) {
    let mut connected = false;
    let mut last_in = Instant::now();
    let mut pinged = false;
    let mut next_token_check = Instant::now() + gw.cfg.token_check;
    let login_deadline = Instant::now() + gw.cfg.login_timeout;
    loop {
        let idle_deadline =
            if pinged { last_in + gw.cfg.connection_timeout } else { last_in + gw.cfg.heartbeat };
        let logged_in = conn.state.lock().auth.is_some();
        let mut deadline = idle_deadline.min(next_token_check);
        if !logged_in {
            deadline = deadline.min(login_deadline);
        }
        let frame = tokio::select! {
            _ = conn.closing.cancelled() => return,
            r = tokio::time::timeout_at(deadline, stream.next()) => r,
        };
        let msg = match frame {
            Err(_) => {
                let now = Instant::now();
                if !logged_in && now >= login_deadline && conn.state.lock().auth.is_none() {
                    conn.close(close::POLICY_VIOLATION, "not logged in within LOGIN_TIMEOUT");
                    return;
                }
                if now >= next_token_check {
                    next_token_check = now + gw.cfg.token_check;
                    if let Some(a) = conn.auth() {
                        if a.claims.exp <= mq_common::protocol::now_millis() / 1000 {
                            conn.close(close::TOKEN_EXPIRED, "token expired");
                            return;
                        }
                    }
                }
                if now >= idle_deadline {
                    if pinged {
                        conn.close(close::TIMEOUT, "timeout");
                        return;
                    }
                    pinged = true;
                    conn.send(&server::ping());
                }
                continue;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                let (code, reason) = close_for(e);
                conn.close(code, reason);
                return;
            }
            Ok(Some(Ok(m))) => m,
        };
        last_in = Instant::now();
        pinged = false;
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                conn.close(close::UNSUPPORTED_DATA, "binary frames are not supported");
                return;
            }
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let frame = match parse_client(text.as_str()) {
            Ok(f) => f,
            Err(FrameError::Unparseable) => {
                conn.close(close::UNSUPPORTED_DATA, "unparseable frame");
                return;
            }
            Err(FrameError::Malformed(what)) => {
                conn.close(close::PROTOCOL_ERROR, &format!("malformed {what}"));
                return;
            }
        };
        if !connected {
            match frame {
                ClientFrame::Connect { version, support } => {
                    if version != "1" && !support.iter().any(|s| s == "1") {
                        conn.send(&server::failed());
                        conn.close(close::PROTOCOL_ERROR, "unsupported version");
                        return;
                    }
                    connected = true;
                    conn.send(&server::connected(&conn.session));
                }
                _ => {
                    conn.close(close::PROTOCOL_ERROR, "first frame must be connect");
                    return;
                }
            }
            continue;
        }
        if conn.state.lock().auth.is_some() {
            let info = conn.info();
            for ext in &gw.extensions {
                ext.on_activity(&info);
            }
        }
        let job = match frame {
            ClientFrame::Connect { .. } => {
                conn.send(&server::error("already connected", Value::Null));
                continue;
            }
            ClientFrame::Ping(id) => {
                conn.send(&server::pong(id));
                continue;
            }
            ClientFrame::Pong => continue,
            ClientFrame::Unknown(v) => {
                conn.send(&server::error("unknown msg", v));
                continue;
            }
            ClientFrame::Method { id, method, params } => Job::Method { id, method, params },
            ClientFrame::Sub { id, name, params } => Job::Sub { id, name, params },
            ClientFrame::Unsub { id } => Job::Unsub { id },
        };
        if jobs.send(job).is_err() {
            return;
        }
    }
}

/// The RFC 6455 close code for a WebSocket-level read error: a message over the size limit
/// 1009, a protocol violation (unmasked client frame, bad opcode, reserved bits) 1002, a text
/// message that is not UTF-8 1007. Anything else (the peer vanished) 1001, which no one will
/// read.
fn close_for(e: axum::Error) -> (u16, &'static str) {
    use tungstenite::Error as Ws;
    match e.into_inner().downcast::<Ws>().map(|b| *b) {
        Ok(Ws::Capacity(_)) => (close::MESSAGE_TOO_BIG, "message too big"),
        Ok(Ws::Protocol(_)) => (close::PROTOCOL_ERROR, "WebSocket protocol error"),
        Ok(Ws::Utf8(_)) => (close::UNSUPPORTED_DATA, "text frame is not UTF-8"),
        _ => (close::GOING_AWAY, "read error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_errors_map_to_rfc6455_codes() {
        use tungstenite::error::{CapacityError, ProtocolError};
        let e = |w: tungstenite::Error| close_for(axum::Error::new(w)).0;
        assert_eq!(
            e(tungstenite::Error::Capacity(CapacityError::MessageTooLong { size: 2, max_size: 1 })),
            1009
        );
        assert_eq!(e(tungstenite::Error::Protocol(ProtocolError::UnmaskedFrameFromClient)), 1002);
        assert_eq!(e(tungstenite::Error::Utf8("x".into())), 1007);
        assert_eq!(e(tungstenite::Error::ConnectionClosed), 1001);
    }
}
