//! Child process of the crash test: opens the store under SYNC_FLUSH, appends from several
//! concurrent tasks and prints `ACK <key> <topic> <queue> <queue_offset> <phy_offset>` for every
//! durably acknowledged message, until it is killed. Half of the tasks put one message at a
//! time, the other half groups of 1-7 (`put_group`, a connection's pipelined sends).
//!
//! Usage: `crash_writer <store dir> <key prefix>`
#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::Arc;

use mq_broker::store::{FlushDiskType, MessageStore, Put, PutMessageStatus, PutSet};
use mq_store_tests::{msg, small_config};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or_else(|| anyhow::anyhow!("missing dir"))?;
    let prefix = args.next().unwrap_or_else(|| "c".into());
    let store = MessageStore::open(small_config(dir.as_ref(), FlushDiskType::Sync))?;
    store.start()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    println!("READY");
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            let out = out.clone();
            let prefix = prefix.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                loop {
                    let n = if t % 2 == 1 { 1 + (i % 7) } else { 1 };
                    let mut keys = Vec::new();
                    let mut msgs = Vec::new();
                    for j in i..i + n {
                        let key = format!("{prefix}-{t}-{j}");
                        let topic = if t % 2 == 0 { "CrashA" } else { "CrashB" };
                        let body = vec![(j % 251) as u8; 100 + (j as usize * 37) % 900];
                        msgs.push(msg(topic, (t + j as usize) as i32 % 3, "tag", &key, body));
                        keys.push(key);
                    }
                    i += n;
                    let puts: Vec<Put> = if t % 2 == 1 {
                        store.put_group(msgs.into_iter().map(PutSet::One).collect())
                    } else {
                        msgs.into_iter().map(|m| store.put_message(m)).collect()
                    };
                    for (key, put) in keys.into_iter().zip(puts) {
                        let r = put.durable().await;
                        if r.status != PutMessageStatus::PutOk {
                            eprintln!("put failed: {r:?}");
                            return;
                        }
                        let line = format!(
                            "ACK {key} {} {} {} {}\n",
                            r.topic, r.queue_id, r.queue_offset, r.wrote_offset
                        );
                        let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = o.write_all(line.as_bytes());
                        let _ = o.flush();
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok(())
}
