//! Slave side, the HA client (docs/ha-protocol.md §4): connect to the master's HA address,
//! report the local max offset at once (5.x behaviour), append every frame through the
//! store's replication surface (CRC-checked, dispatched), report after each growth and every
//! `haSendHeartbeatInterval`; on any break, reconnect and resume from the local max.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::wire::{confirm_offset, next_frame, report, CONFIRM, FRAME_HEADER, READ_BUFFER};
use super::{trace, HaService};

/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Follow the master until shutdown.
pub async fn run(ha: Arc<HaService>) {
    // Java retries every 5 s; a shorter heartbeat (tests) retries faster.
    let retry = ha.cfg.heartbeat().min(Duration::from_secs(5));
    let mut last_error = String::new();
    // The master address of the last session, and since when it is the one followed: a master
    // just elected may refuse the first handshake (it takes its role a moment after the
    // controller names it), so a new master is retried every 200 ms for `retry`.
    let mut following: Option<(String, Instant)> = None;
    loop {
        if ha.shutdown.is_cancelled() {
            return;
        }
        if ha.role() != crate::config::BrokerRole::Slave {
            // Controller mode, while this broker is the master: wait for a role change.
            let changed = ha.role_changed();
            tokio::select! {
                _ = ha.shutdown.cancelled() => return,
                _ = changed => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        let Some(addr) = ha.master().ha_addr else {
            // No master known yet: the first registration answer brings it, look again soon.
            if !ha.pause(retry.min(Duration::from_millis(200))).await {
                return;
            }
            continue;
        };
        if following.as_ref().is_none_or(|(a, _)| *a != addr) {
            following = Some((addr.clone(), Instant::now()));
        }
        {
            let why = match session(&ha, &addr).await {
                Ok(()) => return,
                Err(e) => e,
            };
            ha.client_connected.store(false, Ordering::Release);
            if why != last_error {
                tracing::warn!(master = %addr, reason = %why, "HA connection to the master ended; reconnecting");
                last_error = why;
            }
        }
        // A broken link to the same master is retried after `retry` (Java's 5 s); a new master
        // (controller mode: the role or the master's address changed) is followed at once, so
        // a replica rejoins the new master's in-sync set without waiting out the retry (the
        // new master is alone in it until then). Armed before the check: no change is missed.
        let changed = ha.role_changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let same_master = ha.role() == crate::config::BrokerRole::Slave
            && ha.master().ha_addr.as_deref() == Some(addr.as_str());
        if same_master {
            let new_master = following.as_ref().is_some_and(|(_, since)| since.elapsed() < retry);
            let wait = if new_master { retry.min(Duration::from_millis(200)) } else { retry };
            tokio::select! {
                _ = ha.shutdown.cancelled() => return,
                _ = changed => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

async fn connect(ha: &HaService, addr: &str) -> Result<TcpStream, String> {
    let target: SocketAddr = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {addr}"))?;
    let sock = if target.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
        .map_err(|e| e.to_string())?;
    // Bound to brokerIP2 when it is of the same family (fault rules match source addresses).
    if ha.local_ip.is_ipv4() == target.is_ipv4() && !ha.local_ip.is_unspecified() {
        let _ = sock.bind(SocketAddr::new(ha.local_ip, 0));
    }
    let s = tokio::time::timeout(CONNECT_TIMEOUT, sock.connect(target))
        .await
        .map_err(|_| format!("connect to {addr} timed out"))?
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// One connection: Ok only at shutdown.
async fn session(ha: &HaService, addr: &str) -> Result<(), String> {
    let changed = ha.role_changed();
    tokio::pin!(changed);
    changed.as_mut().enable();
    let mut s = connect(ha, addr).await?;
    if ha.controller_mode() {
        agree_on_epochs(ha, &mut s).await?;
    }
    ha.client_connected.store(true, Ordering::Release);
    let heartbeat = ha.cfg.heartbeat();
    let silent = ha.cfg.housekeeping();
    // Ask for the tail we already hold again and compare it with ours before appending:
    // a master that is not the one this log came from (a replaced or restored master) is
    // refused instead of silently diverging. A Java master serves any offset it holds,
    // so this works against it too; the report is a lower acknowledgement, never a higher one.
    let mut reported = ha.store.get_max_phy_offset();
    let file_size = ha.store.config().mapped_file_size_commit_log as i64;
    // A report of 0 means "empty slave, start at your last file": ask for 1 instead.
    let verify_from = (reported - verify_window(reported, file_size)).max(reported.min(1));
    s.write_all(&report(verify_from)).await.map_err(|e| e.to_string())?;
    tracing::info!(master = %addr, offset = reported, verify_from, "HA connected to the master");
    // The first report only asked; acknowledge the local max once the tail is verified.
    reported = verify_from;
    let mut last_report = Instant::now();
    let mut last_read = Instant::now();
    let mut buf = vec![0u8; READ_BUFFER];
    let (mut len, mut pos) = (0usize, 0usize);
    loop {
        let wait = heartbeat.saturating_sub(last_report.elapsed()).max(Duration::from_millis(1));
        let n = tokio::select! {
            _ = ha.shutdown.cancelled() => return Ok(()),
            _ = changed.as_mut() => return Err("the master or this broker's role changed".into()),
            r = tokio::time::timeout(wait, s.read(&mut buf[len..])) => match r {
                Err(_) => None,
                Ok(Ok(0)) => return Err("closed by the master".into()),
                Ok(Ok(n)) => Some(n),
                Ok(Err(e)) => return Err(e.to_string()),
            },
        };
        let read_at = if trace::on() && n.is_some() { trace::now_us() } else { 0 };
        match n {
            Some(n) => {
                len += n;
                last_read = Instant::now();
            }
            None if last_read.elapsed() >= silent => {
                return Err(format!("nothing from the master for {} ms", silent.as_millis()))
            }
            None => {}
        }
        // Apply every complete frame.
        while let Some((h, frame)) = next_frame(&buf[pos..len])? {
            let size = frame.len();
            let mut body = frame;
            if h.offset == CONFIRM {
                // The master's read limit: what this replica's consumers may read.
                ha.set_master_confirm(confirm_offset(body)?);
                pos += FRAME_HEADER + size;
                continue;
            }
            let local = ha.store.get_max_phy_offset();
            let mut at = h.offset;
            if size == 0 && at < verify_from && verify_from > 0 {
                // An rmq master heartbeats at its own end when it does not hold what we asked
                // for: this slave is ahead of it (the master lost or replaced its tail).
                ha.diverged_at.store(at, Ordering::Release);
                ha.diverged.store(true, Ordering::Release);
                return Err(format!(
                    "refusing this master: its log ends at {at}, before this slave's {local}; \
                     stop this slave and start it once with `--truncate-to {at}` (or wipe its \
                     store)"
                ));
            }
            if at < local && at >= verify_from {
                let n = ((local - at) as usize).min(body.len());
                let mine = ha.store.read_raw(at, n).unwrap_or_default();
                if mine.len() != n || mine[..] != body[..n] {
                    let same = mine.iter().zip(&body[..n]).take_while(|(a, b)| a == b).count();
                    let first = at + same as i64;
                    ha.diverged_at.store(first, Ordering::Release);
                    ha.diverged.store(true, Ordering::Release);
                    return Err(format!(
                        "refusing this master: its bytes at {first} differ from this slave's \
                         log (the slave holds up to {local}); the logs diverged: stop this \
                         slave and start it once with `--truncate-to {first}` (or wipe its store)"
                    ));
                }
                body = &body[n..];
                at += n as i64;
                if body.is_empty() && at < local {
                    ha.master_seen.store(at, Ordering::Release);
                    pos += FRAME_HEADER + size;
                    continue;
                }
            }
            if local != 0 && local != at {
                return Err(format!(
                    "master pushed offset {at} not equal the max phy offset in slave {local}"
                ));
            }
            ha.diverged.store(false, Ordering::Release);
            ha.store.append_replicated(at, body).map_err(|e| e.to_string())?;
            ha.master_seen.store(h.offset + size as i64, Ordering::Release);
            pos += FRAME_HEADER + size;
        }
        if pos > 0 {
            buf.copy_within(pos..len, 0);
            len -= pos;
            pos = 0;
        }
        let max = ha.store.get_max_phy_offset();
        if max > reported || last_report.elapsed() >= heartbeat {
            let appended = if trace::on() { trace::now_us() } else { 0 };
            reported = max;
            s.write_all(&report(reported)).await.map_err(|e| e.to_string())?;
            last_report = Instant::now();
            if read_at > 0 {
                let sent = trace::now_us();
                tracing::debug!(target: trace::TARGET, "sr {reported} {read_at} {appended} {sent}");
            }
        }
    }
}

/// Controller mode: say who we are, take the master's epochs, cut this log past the last
/// epoch boundary both hold (an old master's unreplicated tail), adopt the master's epochs.
async fn agree_on_epochs(ha: &HaService, s: &mut TcpStream) -> Result<(), String> {
    use super::handshake::{read_answer, send_hello, Hello};
    let Some(epochs) = &ha.epochs else { return Ok(()) };
    let last_epoch = epochs.lock().last_epoch() as i64;
    let broker_id = ha.view().my_id as i64;
    send_hello(s, Hello { broker_id, last_epoch }).await.map_err(|e| e.to_string())?;
    let (their_max, theirs) = read_answer(s, ha.cfg.housekeeping()).await?;
    let max = ha.store.get_max_phy_offset();
    let mine = epochs.lock().entries().to_vec();
    let point = super::epoch_cache::consistent_point(&mine, max, &theirs, their_max);
    // No common epoch but a log: past the master's end it cannot be the master's; below it,
    // the byte comparison of the tail (below) decides.
    let point = point.unwrap_or(max.min(their_max));
    if point < max {
        let to = ha.store.record_boundary_at_or_below(point);
        ha.store.truncate_to(to).map_err(|e| format!("cannot truncate to {to}: {e}"))?;
        tracing::warn!(from = max, to, "replica log cut back to the last common epoch boundary");
    }
    epochs.lock().replace(&theirs)?;
    Ok(())
}

/// How many bytes of its own tail a slave holding `max` asks for again to compare (within
/// its last file, at most [`VERIFY_BYTES`]).
fn verify_window(max: i64, file_size: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    let file_start = (max - 1) / file_size * file_size;
    (max - file_start).min(VERIFY_BYTES)
}

/// Bytes of its tail a reconnecting slave compares with the master's.
const VERIFY_BYTES: i64 = 4096;

#[cfg(test)]
mod tests {
    #[test]
    fn verify_window_stays_in_the_last_file() {
        assert_eq!(super::verify_window(0, 1024), 0);
        assert_eq!(super::verify_window(100, 1 << 20), 100);
        assert_eq!(super::verify_window(10_000, 1 << 20), 4096);
        assert_eq!(super::verify_window(1024 + 10, 1024), 10);
        assert_eq!(super::verify_window(2048, 1024), 1024);
    }
}
