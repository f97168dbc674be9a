//! A small DDP client on tokio-tungstenite: enough to act as a Rocket.Chat-style chat user in
//! tests (methods, stream subscriptions, automatic pong), cheap enough for 1,000 at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio_tungstenite::tungstenite::Message;

/// A stream event (`changed` frame).
#[derive(Debug, Clone)]
pub struct Event {
    /// Collection (`stream-room-messages`, `stream-notify-user`, ...).
    pub collection: String,
    /// `fields.eventName`.
    pub event_name: String,
    /// `fields.args`.
    pub args: Vec<Value>,
    /// When it arrived.
    pub at: Instant,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// A connected DDP client.
pub struct DdpClient {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next: AtomicU64,
    /// Stream events in arrival order.
    pub events: Mutex<mpsc::UnboundedReceiver<Event>>,
    /// Close code from the server, once closed.
    pub closed: Arc<std::sync::Mutex<Option<u16>>>,
    /// Session id from `connected`.
    pub session: String,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for DdpClient {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl DdpClient {
    /// Connect to `url` and complete the DDP handshake.
    pub async fn connect(url: &str) -> anyhow::Result<DdpClient> {
        let (ws, _) =
            tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(url))
                .await??;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        out.send(Message::Text(
            json!({"msg":"connect","version":"1","support":["1"]}).to_string().into(),
        ))?;
        let pending: Pending = Arc::default();
        let closed: Arc<std::sync::Mutex<Option<u16>>> = Arc::default();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (conn_tx, conn_rx) = oneshot::channel::<String>();
        let (p, c, o) = (pending.clone(), closed.clone(), out.clone());
        let reader = tokio::spawn(async move {
            let mut conn_tx = Some(conn_tx);
            while let Some(Ok(m)) = stream.next().await {
                let text = match m {
                    Message::Text(t) => t.to_string(),
                    Message::Close(f) => {
                        *c.lock().unwrap() = Some(f.map(|f| u16::from(f.code)).unwrap_or(1005));
                        break;
                    }
                    _ => continue,
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                match v["msg"].as_str().unwrap_or("") {
                    "connected" => {
                        if let Some(tx) = conn_tx.take() {
                            let _ = tx.send(v["session"].as_str().unwrap_or("").to_string());
                        }
                    }
                    "ping" => {
                        let mut pong = json!({"msg":"pong"});
                        if let Some(id) = v.get("id") {
                            pong["id"] = id.clone();
                        }
                        let _ = o.send(Message::Text(pong.to_string().into()));
                    }
                    "result" | "ready" | "nosub" => {
                        let key = match v["msg"].as_str() {
                            Some("result") => format!("m:{}", v["id"].as_str().unwrap_or("")),
                            Some("ready") => format!("s:{}", v["subs"][0].as_str().unwrap_or("")),
                            _ => format!("s:{}", v["id"].as_str().unwrap_or("")),
                        };
                        if let Some(tx) = p.lock().await.remove(&key) {
                            let _ = tx.send(v);
                        }
                    }
                    "changed" => {
                        let _ = ev_tx.send(Event {
                            collection: v["collection"].as_str().unwrap_or("").to_string(),
                            event_name: v["fields"]["eventName"].as_str().unwrap_or("").to_string(),
                            args: v["fields"]["args"].as_array().cloned().unwrap_or_default(),
                            at: Instant::now(),
                        });
                    }
                    _ => {}
                }
            }
            if c.lock().unwrap().is_none() {
                *c.lock().unwrap() = Some(1006);
            }
        });
        let session = tokio::time::timeout(Duration::from_secs(10), conn_rx).await??;
        Ok(DdpClient {
            out,
            pending,
            next: AtomicU64::new(1),
            events: Mutex::new(ev_rx),
            closed,
            session,
            reader,
        })
    }

    /// Connect and log in with `token`.
    pub async fn login(url: &str, token: &str) -> anyhow::Result<DdpClient> {
        let c = Self::connect(url).await?;
        c.call("login", json!([{"resume": token}]))
            .await
            .map_err(|e| anyhow::anyhow!("login: {e}"))?;
        Ok(c)
    }

    async fn request(&self, key: String, frame: Value, timeout: Duration) -> anyhow::Result<Value> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(key.clone(), tx);
        self.out.send(Message::Text(frame.to_string().into()))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => Ok(v),
            _ => {
                self.pending.lock().await.remove(&key);
                anyhow::bail!(
                    "no answer to {frame} within {timeout:?} (closed: {:?})",
                    self.closed.lock().unwrap()
                )
            }
        }
    }

    /// Call a method: `Ok(result)` or `Err(error object)`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let frame = json!({"msg":"method","id":id,"method":method,"params":params});
        match self.request(format!("m:{id}"), frame, Duration::from_secs(20)).await {
            Ok(v) if v.get("error").is_some() => Err(v["error"].clone()),
            Ok(v) => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
            Err(e) => Err(json!({"error": "timeout", "reason": e.to_string()})),
        }
    }

    /// Subscribe: `Ok(())` on `ready`, `Err(error)` on `nosub`.
    pub async fn sub(&self, name: &str, params: Value) -> Result<(), Value> {
        let id = format!("s{}", self.next.fetch_add(1, Ordering::Relaxed));
        let frame = json!({"msg":"sub","id":id,"name":name,"params":params});
        match self.request(format!("s:{id}"), frame, Duration::from_secs(20)).await {
            Ok(v) if v["msg"] == "ready" => Ok(()),
            Ok(v) => Err(v.get("error").cloned().unwrap_or(Value::Null)),
            Err(e) => Err(json!({"error": "timeout", "reason": e.to_string()})),
        }
    }

    /// Subscribe to a room's messages.
    pub async fn sub_room(&self, rid: &str) -> Result<(), Value> {
        self.sub("stream-room-messages", json!([rid, {"useCollection": false, "args": []}])).await
    }

    /// Send a chat message with a given `_id`.
    pub async fn send_msg(&self, rid: &str, id: &str, text: &str) -> Result<Value, Value> {
        self.call("sendMessage", json!([{"_id": id, "rid": rid, "msg": text}])).await
    }

    /// Send a raw text frame.
    pub fn raw(&self, text: &str) {
        let _ = self.out.send(Message::Text(text.to_string().into()));
    }

    /// Next stream event within `timeout`.
    pub async fn next_event(&self, timeout: Duration) -> Option<Event> {
        tokio::time::timeout(timeout, self.events.lock().await.recv()).await.ok().flatten()
    }

    /// Collect `stream-room-messages` messages until `n` distinct `_id`s arrived or `timeout`.
    /// Returns every message received (duplicates included, in arrival order).
    pub async fn collect_messages(&self, n: usize, timeout: Duration) -> Vec<(Value, Instant)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut out = Vec::new();
        let mut ids = std::collections::HashSet::new();
        let mut rx = self.events.lock().await;
        while ids.len() < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(ev)) if ev.collection == "stream-room-messages" => {
                    for m in ev.args {
                        ids.insert(m["_id"].as_str().unwrap_or("").to_string());
                        out.push((m, ev.at));
                    }
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        out
    }

    /// The close code, if closed.
    pub fn close_code(&self) -> Option<u16> {
        *self.closed.lock().unwrap()
    }
}
