//! One simulated user: a single task owning its WebSocket (no split, no per-user threads, small
//! buffers), so 10,000 of them fit in one runtime next to the gateways on two cores.
//!
//! The task connects, sends DDP `connect`, logs in, subscribes (own messages, rooms, presence of
//! contacts), then serves until its command channel closes: it answers pings, writes the
//! `sendMessage` calls it is given without waiting for their results, and records every pushed
//! message as a delivery. A churned user closes and logs in again on [`Cmd::Bounce`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::Stats;

/// Who a user is and what it subscribes to.
pub struct UserSpec {
    /// Index (the `seen` key of its deliveries).
    pub idx: u32,
    /// User id.
    pub uid: String,
    /// Gateway WebSocket URL.
    pub url: String,
    /// Login token.
    pub token: String,
    /// Subscribes to `__my_messages__` (DMs).
    pub my_messages: bool,
    /// Rooms it subscribes to.
    pub rooms: Vec<String>,
    /// Users whose presence it watches.
    pub watch: Vec<String>,
}

/// What the driver asks a user to do.
pub enum Cmd {
    /// Call `sendMessage` (not awaited: the push to the recipient is what is measured).
    Send {
        /// Benchmark sequence number.
        seq: u64,
        /// Room id.
        rid: String,
        /// Client message id.
        id: String,
        /// Scheduled send time, µs after the run's base instant.
        sched_us: u64,
    },
    /// Disconnect and log in again (presence churn).
    Bounce,
}

enum End {
    Bounce,
    Lost(String),
    Done,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Run user `spec` until `cmds` closes. `ready` fires after the first login and subscriptions.
pub async fn run(
    spec: Arc<UserSpec>,
    stats: Arc<Stats>,
    base: Instant,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut bounced_at: Option<Instant> = None;
    loop {
        let ws = match session(&spec).await {
            Ok(ws) => ws,
            Err(e) => {
                Stats::inc(&stats.login_errors);
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(format!("{}: {e}", spec.uid)));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Some(at) = bounced_at.take() {
            let _ = stats.relogin.lock().record(at.elapsed().as_micros().max(1) as u64);
        }
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        match serve(&spec, &stats, base, ws, &mut cmds).await {
            End::Done => return,
            End::Bounce => bounced_at = Some(Instant::now()),
            End::Lost(why) => {
                Stats::inc(&stats.closed_by_server);
                eprintln!("chatbench: {} lost its socket ({why}); reconnecting", spec.uid);
            }
        }
    }
}

/// Connect, log in and subscribe; answers pings meanwhile.
async fn session(spec: &UserSpec) -> anyhow::Result<Ws> {
    // Small buffers: the defaults (128 KiB read buffer) would cost 1.3 GB for 10,000 sockets.
    let cfg = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(&spec.url, Some(cfg), true),
    )
    .await??;
    let mut frames = vec![
        json!({"msg":"connect","version":"1","support":["1"]}),
        json!({"msg":"method","id":"login","method":"login","params":[{"resume": spec.token}]}),
    ];
    let mut subs = Vec::new();
    if spec.my_messages {
        subs.push(json!(["__my_messages__", {"useCollection": false, "args": []}]));
    }
    for r in &spec.rooms {
        subs.push(json!([r, {"useCollection": false, "args": []}]));
    }
    for (i, p) in subs.into_iter().enumerate() {
        frames.push(
            json!({"msg":"sub","id":format!("s{i}"),"name":"stream-room-messages","params":p}),
        );
    }
    if !spec.watch.is_empty() {
        frames.push(json!({"msg":"sub","id":"presence","name":"stream-user-presence",
            "params":["", {"added": spec.watch, "removed": []}]}));
    }
    // connected + login result + one ready per subscription.
    let mut waiting = frames.len();
    for f in frames {
        ws.feed(Message::Text(f.to_string().into())).await?;
    }
    ws.flush().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while waiting > 0 {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no login/ready within 30 s ({waiting} answers missing)"))?
            .ok_or_else(|| anyhow::anyhow!("closed during login"))??;
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(t.as_str())?;
        match v["msg"].as_str().unwrap_or("") {
            "connected" | "ready" => waiting -= 1,
            "result" if v.get("error").is_some() => anyhow::bail!("login refused: {}", v["error"]),
            "result" => waiting -= 1,
            "nosub" => anyhow::bail!("subscription refused: {v}"),
            "failed" => anyhow::bail!("DDP version refused"),
            "ping" => ws.send(pong(&v)).await?,
            _ => {}
        }
    }
    Ok(ws)
}

fn pong(ping: &Value) -> Message {
    let mut p = json!({"msg":"pong"});
    if let Some(id) = ping.get("id") {
        p["id"] = id.clone();
    }
    Message::Text(p.to_string().into())
}

async fn serve(
    spec: &UserSpec,
    stats: &Stats,
    base: Instant,
    mut ws: Ws,
    cmds: &mut mpsc::UnboundedReceiver<Cmd>,
) -> End {
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => {
                    let _ = ws.close(None).await;
                    return End::Done;
                }
                Some(Cmd::Bounce) => {
                    // A clean close, as a browser tab closing: the gateway logs the session out.
                    let _ = tokio::time::timeout(Duration::from_secs(5), ws.close(None)).await;
                    return End::Bounce;
                }
                Some(Cmd::Send { seq, rid, id, sched_us }) => {
                    let f = json!({"msg":"method","id":format!("m{seq}"),"method":"sendMessage",
                        "params":[{"_id": id, "rid": rid, "msg": format!("b {seq} {sched_us}")}]});
                    if let Err(e) = ws.send(Message::Text(f.to_string().into())).await {
                        return End::Lost(format!("write: {e}"));
                    }
                }
            },
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if let Some(reply) = on_frame(spec, stats, base, t.as_str()) {
                        if let Err(e) = ws.send(reply).await {
                            return End::Lost(format!("write: {e}"));
                        }
                    }
                }
                Some(Ok(Message::Close(f))) => return End::Lost(format!("closed by the gateway: {f:?}")),
                Some(Ok(_)) => {}
                Some(Err(e)) => return End::Lost(format!("read: {e}")),
                None => return End::Lost("EOF".into()),
            },
        }
    }
}

/// Handle one server frame; returns a reply to write (a pong).
fn on_frame(spec: &UserSpec, stats: &Stats, base: Instant, text: &str) -> Option<Message> {
    let v: Value = serde_json::from_str(text).ok()?;
    match v["msg"].as_str()? {
        "ping" => return Some(pong(&v)),
        "result" => {
            if v.get("error").is_some() {
                if Stats::get(&stats.sent_err) < 5 {
                    eprintln!("chatbench: {} sendMessage failed: {}", spec.uid, v["error"]);
                }
                Stats::inc(&stats.sent_err);
            } else {
                Stats::inc(&stats.sent_ok);
            }
        }
        "changed" => match v["collection"].as_str()? {
            "stream-room-messages" => {
                let now = base.elapsed();
                for m in v["fields"]["args"].as_array()? {
                    if m["u"]["_id"].as_str() == Some(spec.uid.as_str()) {
                        continue; // the sender's own echo
                    }
                    let mut it = m["msg"].as_str().unwrap_or("").split(' ');
                    let (Some("b"), Some(seq), Some(at)) = (it.next(), it.next(), it.next()) else {
                        continue;
                    };
                    let (Ok(seq), Ok(at)) = (seq.parse::<u64>(), at.parse::<u64>()) else {
                        continue;
                    };
                    stats.delivered(seq, spec.idx, now.saturating_sub(Duration::from_micros(at)));
                }
            }
            "stream-user-presence" => Stats::inc(&stats.presence_events),
            _ => {}
        },
        _ => {}
    }
    None
}
