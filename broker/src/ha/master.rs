//! Master side (docs/ha-protocol.md §3): accept slaves on `haListenPort`; per connection, a
//! read half taking the slave's reports and a transfer half streaming frames.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_common::remoting::accept_backing_off;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::wire::{confirm_frame, last_report, FrameHeader, FRAME_HEADER};
use super::{trace, HaService, SlaveLink};

/// How long a transfer half with nothing to send sleeps before looking again (Java's 100 ms
/// notify wait; SYNC_MASTER puts wake it at once).
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Frames are gathered into one write up to this many bytes (fewer system calls on catch-up).
const WRITE_GATHER: usize = 1024 * 1024;

/// Accept slaves until shutdown.
pub async fn accept_loop(ha: Arc<HaService>, listener: TcpListener) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = ha.shutdown.cancelled() => return,
            a = accept_backing_off(&listener, "HA") => a,
        };
        tokio::spawn(serve(ha.clone(), stream, peer));
    }
}

async fn serve(ha: Arc<HaService>, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let hello = if ha.controller_mode() {
        match handshake(&ha, &mut stream).await {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(slave = %peer, reason = %e, "HA handshake refused");
                return;
            }
        }
    } else {
        None
    };
    let (id, link) = ha.add_link(peer);
    if let Some(h) = hello {
        link.broker_id.store(h.broker_id, Ordering::Release);
    }
    tracing::info!(slave = %peer, broker_id = link.broker_id(), "HA slave connected");
    let (rd, wr) = stream.into_split();
    let why = tokio::select! {
        _ = ha.shutdown.cancelled() => "shutdown".to_string(),
        _ = demoted(&ha) => "this broker is no longer the master".to_string(),
        r = read_reports(&ha, rd, &link) => r.err().unwrap_or_default(),
        r = transfer(&ha, wr, &link) => r.err().unwrap_or_default(),
    };
    ha.remove_link(id);
    tracing::warn!(slave = %peer, reason = %why, "HA slave connection closed");
}

/// Controller mode: only a master serves, and it answers the slave's hello with its epochs.
async fn handshake(
    ha: &HaService,
    stream: &mut TcpStream,
) -> Result<super::handshake::Hello, String> {
    use super::handshake::{read_hello, send_answer};
    let hello = read_hello(stream, ha.cfg.housekeeping()).await?;
    if !ha.accepts_writes() {
        return Err("this broker is not the (writable) master of its group".into());
    }
    let entries = ha.epochs.as_ref().map(|e| e.lock().entries().to_vec()).unwrap_or_default();
    let max = ha.store.get_max_phy_offset();
    send_answer(stream, max, &entries).await.map_err(|e| e.to_string())?;
    Ok(hello)
}

/// Completes once this broker stops being a master (controller mode).
async fn demoted(ha: &HaService) {
    if !ha.controller_mode() {
        return std::future::pending().await;
    }
    loop {
        let changed = ha.role_changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if ha.role() == crate::config::BrokerRole::Slave {
            return;
        }
        changed.await;
    }
}

/// Take the slave's reports: the first is where to start, every one is an acknowledgement.
async fn read_reports(
    ha: &HaService,
    mut rd: OwnedReadHalf,
    link: &SlaveLink,
) -> Result<(), String> {
    let mut buf = [0u8; 1024];
    let mut len = 0;
    let silent = ha.cfg.housekeeping();
    loop {
        let n = match tokio::time::timeout(silent, rd.read(&mut buf[len..])).await {
            Err(_) => return Err(format!("nothing read for {} ms", silent.as_millis())),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(0)) => return Err("closed by the slave".into()),
            Ok(Ok(n)) => n,
        };
        len += n;
        let Some((offset, used)) = last_report(&buf[..len]) else { continue };
        buf.copy_within(used..len, 0);
        len -= used;
        let max = ha.store.get_max_phy_offset();
        let first = link.request.load(Ordering::Acquire) < 0;
        if offset < 0 || (offset > max && !first) {
            // A slave must never acknowledge bytes this master does not hold
            // (apache/rocketmq#3015); one ahead of us diverged and is refused. A first report
            // beyond our end is only a request: the transfer half answers it with a heartbeat
            // at our end, which tells an rmq slave it is ahead (`slave.rs`).
            return Err(format!("slave reported {offset}, beyond this master's max {max}"));
        }
        if first {
            // The first report says where to start. Java also counts it as an
            // acknowledgement; we do not: it is not yet known that the slave's bytes are
            // this master's (a slave verifies its tail first, see `slave.rs`), so a SYNC_MASTER
            // wait is only completed by reports that follow transferred bytes or heartbeats.
            link.request.store(offset, Ordering::Release);
            link.first_report.notify_one();
            continue;
        }
        let received = if trace::on() { trace::now_us() } else { 0 };
        let waiters = ha.transfer.pending();
        let advanced = offset > link.acked();
        link.set_acked(offset);
        ha.on_slave_ack(link, offset);
        if advanced {
            ha.record_ack_lag(link, offset);
        }
        if trace::on() {
            tracing::debug!(target: trace::TARGET, "ack {offset} {received} {} {waiters}", trace::now_us());
        }
    }
}

/// Stream frames from the slave's request offset; heartbeats when idle.
async fn transfer(ha: &HaService, mut wr: OwnedWriteHalf, link: &SlaveLink) -> Result<(), String> {
    let request = loop {
        let r = link.request.load(Ordering::Acquire);
        if r >= 0 {
            break r;
        }
        let _ = tokio::time::timeout(IDLE_WAIT, link.first_report.notified()).await;
    };
    let file_size = ha.store.config().mapped_file_size_commit_log as i64;
    let mut next = if request == 0 {
        // An empty slave starts at the master's last file; older files are never sent.
        let max = ha.store.get_max_phy_offset();
        max - max % file_size
    } else {
        request
    };
    tracing::info!(slave = %link.peer, request, from = next, "HA transfer starts");
    let heartbeat = ha.cfg.heartbeat();
    let batch = ha.cfg.transfer_batch_size;
    let mut last_write = Instant::now();
    let mut out = Vec::with_capacity(WRITE_GATHER + FRAME_HEADER + batch);
    let mut missing_logged = false;
    // Controller mode: the read limit last sent (the replica limits its consumers to it).
    let mut confirm_sent = -1;
    loop {
        let ready = ha.data_ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        let advanced = ha.read_limit_advanced();
        tokio::pin!(advanced);
        advanced.as_mut().enable();
        let (woke, notified) = if trace::on() {
            (trace::now_us(), ha.notified_at_us.swap(0, Ordering::AcqRel))
        } else {
            (0, 0)
        };
        let from = next;
        // Gather the frames that are available now into one write.
        out.clear();
        let mut missing = false;
        while out.len() < WRITE_GATHER {
            match ha.store.read_raw(next, batch) {
                Some(b) if !b.is_empty() => {
                    out.extend_from_slice(
                        &FrameHeader { offset: next, size: b.len() as i32 }.encode(),
                    );
                    out.extend_from_slice(&b);
                    next += b.len() as i64;
                }
                Some(_) => break,
                None => {
                    missing = true;
                    break;
                }
            }
        }
        let first_missing = missing && !missing_logged;
        if first_missing {
            // Java's behaviour (apache/rocketmq#3388): heartbeats only; wipe the slave.
            tracing::error!(slave = %link.peer, offset = next, "the slave asks for an offset this master does not hold; sending heartbeats only");
            missing_logged = true;
        }
        if ha.controller_mode() {
            let confirm = ha.store.confirmed_offset().min(ha.store.get_max_phy_offset());
            if confirm != confirm_sent {
                out.extend_from_slice(&confirm_frame(confirm));
                confirm_sent = confirm;
            }
        }
        if out.is_empty() && (first_missing || last_write.elapsed() >= heartbeat) {
            // A slave ahead of this log (it followed a master that held more) gets heartbeats
            // at this log's end rather than at its request (Java's choice): a Java slave
            // reconnects on either, an rmq slave learns where this log ends and reports the
            // divergence (`haDivergedAt`) for the operator's `--truncate-to`.
            let end = ha.store.get_max_phy_offset();
            let offset = if missing && next > end { end } else { next };
            out.extend_from_slice(&FrameHeader { offset, size: 0 }.encode());
        }
        if !out.is_empty() {
            wr.write_all(&out).await.map_err(|e| e.to_string())?;
            last_write = Instant::now();
            if trace::on() && next > from {
                let written = trace::now_us();
                tracing::debug!(target: trace::TARGET, "tw {from} {next} {notified} {woke} {written}");
            }
            if out.len() >= WRITE_GATHER {
                continue;
            }
        }
        let wait = heartbeat.saturating_sub(last_write.elapsed()).min(IDLE_WAIT);
        let woken = async {
            tokio::select! {
                _ = ready => {}
                _ = advanced => {}
            }
        };
        let _ = tokio::time::timeout(wait.max(Duration::from_millis(1)), woken).await;
    }
}
