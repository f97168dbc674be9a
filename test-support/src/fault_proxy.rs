//! A TCP proxy that can cut a link between two "hosts" (docs/ha-protocol.md §13.2: no netem on
//! this kernel, and CI may not create namespaces or firewall rules; a userspace proxy works
//! everywhere and touches no system setting). Point a client at [`FaultProxy::addr`] instead
//! of the server; [`FaultProxy::cut`] stops forwarding in one or both directions, as a
//! network that drops packets would: bytes already sent wait (as TCP retransmits would) and
//! flow again after [`FaultProxy::heal`]; connections opened during a two-way cut reach the
//! server only after the heal. Timeouts on either side therefore fire exactly as they would
//! on a partitioned network.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which directions a cut blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Both directions (a full partition).
    Both,
    /// Client → server only (e.g. a slave's acknowledgements never reach the master).
    ToServer,
    /// Server → client only (e.g. the master's frames never reach the slave).
    ToClient,
}

const TO_SERVER: u8 = 1;
const TO_CLIENT: u8 = 2;
const POLL: Duration = Duration::from_millis(10);

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    /// `ip:port` clients connect to.
    pub addr: String,
    blocked: Arc<AtomicU8>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on `listen_ip` (a free port) and forward to `target`.
    pub async fn start(listen_ip: &str, target: &str) -> FaultProxy {
        Self::start_on(&format!("{listen_ip}:0"), target).await
    }

    /// Listen on `listen` (`ip:port`; port 0 picks a free one) and forward to `target`.
    pub async fn start_on(listen: &str, target: &str) -> FaultProxy {
        let l =
            TcpListener::bind(listen).await.unwrap_or_else(|e| panic!("proxy bind {listen}: {e}"));
        let addr = l.local_addr().expect("proxy addr").to_string();
        let blocked = Arc::new(AtomicU8::new(0));
        let (b, target) = (blocked.clone(), target.to_string());
        let task = tokio::spawn(async move {
            while let Ok((c, _)) = l.accept().await {
                tokio::spawn(link(c, target.clone(), b.clone()));
            }
        });
        FaultProxy { addr, blocked, task }
    }

    /// Stop forwarding in the given directions (replaces an earlier cut).
    pub fn cut(&self, c: Cut) {
        let bits = match c {
            Cut::Both => TO_SERVER | TO_CLIENT,
            Cut::ToServer => TO_SERVER,
            Cut::ToClient => TO_CLIENT,
        };
        self.blocked.store(bits, Ordering::Release);
    }

    /// Forward everything again.
    pub fn heal(&self) {
        self.blocked.store(0, Ordering::Release);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn wait_open(blocked: &AtomicU8, dir: u8) {
    while blocked.load(Ordering::Acquire) & dir != 0 {
        tokio::time::sleep(POLL).await;
    }
}

async fn link(client: TcpStream, target: String, blocked: Arc<AtomicU8>) {
    // A connection attempt during a two-way cut gets no answer until the heal.
    while blocked.load(Ordering::Acquire) == TO_SERVER | TO_CLIENT {
        tokio::time::sleep(POLL).await;
    }
    let Ok(server) = TcpStream::connect(&target).await else { return };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        _ = pump(cr, sw, &blocked, TO_SERVER) => {}
        _ = pump(sr, cw, &blocked, TO_CLIENT) => {}
    }
}

async fn pump(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, blocked: &AtomicU8, dir: u8) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        wait_open(blocked, dir).await;
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just as a cut began are held until the heal, like a retransmission.
        wait_open(blocked, dir).await;
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Whether `addr` accepts a TCP connection now.
pub fn reachable(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(500)).ok())
        .is_some()
}
