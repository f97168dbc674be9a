//! Redis Streams: a backlog drain with `XREAD COUNT 1000` (the read idiom: one round trip per
//! thousand entries) and an e2e run (`XADD` at a fixed rate, a reader on `XREAD BLOCK`).
//! Sends alone are measured with `redis-benchmark` by compare.sh.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::Value;
use tokio::sync::Semaphore;

use crate::record::{histogram, now_us, record, stamp_of, stamped_body, WINDOW_WAIT};
use crate::Cmd;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

pub async fn run(host: &str, port: u16, key: &str, cmd: Cmd) -> Res<serde_json::Value> {
    let client = redis::Client::open(format!("redis://{host}:{port}/"))?;
    let mut con = client.get_multiplexed_async_connection().await?;
    match cmd {
        Cmd::Consume { count } => {
            let t0 = Instant::now();
            let (mut n, mut last) = (0u64, "0-0".to_string());
            while n < count {
                let entries = xread(&mut con, key, &last, None).await?;
                let Some((id, _)) = entries.last() else { break };
                last = id.clone();
                n += entries.len() as u64;
            }
            Ok(record("redis", n, count.saturating_sub(n), t0.elapsed().as_secs_f64(), None))
        }
        Cmd::E2e { size, rate, inflight, duration, warmup } => {
            // The reader gets its own connection: a blocking XREAD would hold a shared one.
            let reader_con = client.get_multiplexed_async_connection().await?;
            e2e(con, reader_con, key, size, rate, inflight, warmup, duration).await
        }
        Cmd::Produce { .. } => {
            Err("redis sends are measured with redis-benchmark (bench/compare.sh)".into())
        }
    }
}

/// One `XREAD [BLOCK ms] COUNT 1000 STREAMS key after`: the entries' ids and first field values.
async fn xread(
    con: &mut MultiplexedConnection,
    key: &str,
    after: &str,
    block_ms: Option<u64>,
) -> Res<Vec<(String, Vec<u8>)>> {
    let mut c = redis::cmd("XREAD");
    if let Some(ms) = block_ms {
        c.arg("BLOCK").arg(ms);
    }
    c.arg("COUNT").arg(1000).arg("STREAMS").arg(key).arg(after);
    let v: Value = c.query_async(con).await?;
    // Reply: [[key, [[id, [field, value, ...]], ...]]] (RESP2), or nil on a BLOCK timeout.
    let mut out = Vec::new();
    let Value::Array(streams) = v else { return Ok(out) };
    for s in streams {
        let Value::Array(mut kv) = s else { continue };
        let Some(Value::Array(entries)) = kv.pop() else { continue };
        for e in entries {
            let Value::Array(mut e) = e else { continue };
            if e.len() < 2 {
                continue;
            }
            let fields = e.pop();
            let id = match e.pop() {
                Some(Value::BulkString(b)) => String::from_utf8(b)?,
                Some(Value::SimpleString(s)) => s,
                _ => continue,
            };
            let body = match fields {
                Some(Value::Array(mut f)) if f.len() >= 2 => match f.swap_remove(1) {
                    Value::BulkString(b) => b,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            out.push((id, body));
        }
    }
    Ok(out)
}

/// `XADD` at `rate` msgs/s (due messages every millisecond, at most `inflight` unanswered)
/// while a second connection reads with `XREAD BLOCK`; latency = receipt - body stamp.
#[allow(clippy::too_many_arguments)]
async fn e2e(
    con: MultiplexedConnection,
    mut reader_con: MultiplexedConnection,
    key: &str,
    size: usize,
    rate: u64,
    inflight: usize,
    warmup: u64,
    duration: u64,
) -> Res<serde_json::Value> {
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (measuring, stop, key) = (measuring.clone(), stop.clone(), key.to_string());
        tokio::spawn(async move {
            let mut hist = histogram();
            let (mut n, mut last) = (0u64, "$".to_string());
            while !stop.load(Ordering::Relaxed) {
                let Ok(entries) = xread(&mut reader_con, &key, &last, Some(200)).await else {
                    break;
                };
                let at = now_us();
                if let Some((id, _)) = entries.last() {
                    last = id.clone();
                }
                if measuring.load(Ordering::Relaxed) {
                    for (_, body) in &entries {
                        if let Some(t) = stamp_of(body) {
                            let _ = hist.record(at.saturating_sub(t).max(1));
                            n += 1;
                        }
                    }
                }
            }
            (n, hist)
        })
    };
    // Let the reader's first XREAD (from "$") reach the server before the first send.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let permits = Arc::new(Semaphore::new(inflight.max(1)));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (warm_end, end) =
        (start + Duration::from_secs(warmup), start + Duration::from_secs(warmup + duration));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let (mut sent, mut t_measure) = (0u64, start);
    while Instant::now() < end {
        tick.tick().await;
        if !measuring.load(Ordering::Relaxed) && Instant::now() >= warm_end {
            measuring.store(true, Ordering::Relaxed);
            t_measure = Instant::now();
        }
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            tokio::time::timeout(WINDOW_WAIT, permits.acquire()).await??.forget();
            let (permits, failed, mut con, key) =
                (permits.clone(), failed.clone(), con.clone(), key.to_string());
            let body = stamped_body(size);
            tokio::spawn(async move {
                let r: redis::RedisResult<String> = redis::cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg("f")
                    .arg(body)
                    .query_async(&mut con)
                    .await;
                if r.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                permits.add_permits(1);
            });
            sent += 1;
        }
    }
    let secs = t_measure.elapsed().as_secs_f64();
    let _ =
        tokio::time::timeout(Duration::from_secs(5), permits.acquire_many(inflight.max(1) as u32))
            .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (n, hist) = reader.await?;
    Ok(record("redis", n, failed.load(Ordering::Relaxed), secs, Some(&hist)))
}
