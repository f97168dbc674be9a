//! Read-back: every message of every queue of a topic, from one replica or from every
//! replica the name servers route, recorded as `recv` events. Reads use PULL_MESSAGE without
//! committing an offset, so they move nothing (a slave needs `slaveReadEnable=true`).

use std::time::Duration;

use mq_client::consumer::fetch::PullStatus;
use mq_client::{Admin, MessageQueue};

use crate::event::{body_hash, Event, Kind, Via};
use crate::recorder::Recorder;

/// Consumer group of the reads (never commits).
const READ_GROUP: &str = "HistoryReader";
/// Messages per pull.
const BATCH: i32 = 32;

/// Where to read: a replica of broker group `broker` at `addr`.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Broker group (`brokerName`).
    pub broker: String,
    /// `ip:port`.
    pub addr: String,
}

/// How long a read-back waits for a queue's unreadable (not yet replicated) tail.
const UNCONFIRMED_TAIL_WAIT: Duration = Duration::from_secs(10);

/// Read queues `0..queues` of `topic` at `r` to their end, recording one `recv` per message
/// (`via` says which read-back this is). Returns the number of messages read; an error
/// (e.g. the replica does not answer) is returned, not hidden: a read-back that stopped
/// half way would make the checker report losses that are not there.
pub async fn read_replica(
    r: &Replica,
    topic: &str,
    queues: i32,
    via: Via,
    rec: &Recorder,
) -> anyhow::Result<usize> {
    let a = Admin::new(vec![r.addr.clone()], Duration::from_secs(5))?;
    dispatched(&a, &r.addr).await;
    let mut open = Event::new(Kind::Read, "readback");
    let pass = format!("{}@{}", r.addr, open.t);
    (open.topic, open.broker, open.addr) =
        (Some(topic.into()), Some(r.broker.clone()), Some(r.addr.clone()));
    (open.via, open.pass) = (Some(via), Some(pass.clone()));
    rec.record(&open);
    let mut n = 0;
    let res = async {
        for q in 0..queues {
            let mq = MessageQueue::new(topic, &r.broker, q);
            let mut off = 0;
            // A controller-mode master lets nobody read what its in-sync replicas do not
            // hold yet: a tail it stored last becomes readable once they acknowledge it (or
            // the set shrinks). Stopping short of the queue's end is retried until then.
            let mut short_since: Option<std::time::Instant> = None;
            loop {
                let p = a
                    .pull_without_commit(&r.addr, &mq, "*", READ_GROUP, off, BATCH)
                    .await
                    .map_err(|e| anyhow::anyhow!("pull {topic}/{q}@{off} from {}: {e}", r.addr))?;
                if let PullStatus::Found(msgs) = &p.status {
                    for m in msgs {
                        let mut e = Event::new(Kind::Recv, "readback").pos(
                            topic,
                            &r.broker,
                            q,
                            m.queue_offset,
                        );
                        e.key = m.keys().first().map(|k| k.to_string());
                        e.hash = Some(body_hash(&m.body));
                        e.addr = Some(r.addr.clone());
                        e.msg_id = Some(m.msg_id().to_string());
                        e.via = Some(via);
                        e.pass = Some(pass.clone());
                        rec.record(&e);
                        n += 1;
                    }
                }
                if p.next_begin_offset <= off {
                    let short = !matches!(p.status, PullStatus::Found(_)) && off < p.max_offset;
                    let waited = short_since.get_or_insert_with(std::time::Instant::now).elapsed();
                    if short && waited < UNCONFIRMED_TAIL_WAIT {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    // The end must be the queue's end: a read that stops short would show
                    // the checker losses that are not there (or hide some).
                    anyhow::ensure!(
                        matches!(p.status, PullStatus::Found(_)) || off >= p.max_offset,
                        "read-back of {topic}/{q} at {} stopped at offset {off}, before the \
                         queue's end {}: {:?}",
                        r.addr,
                        p.max_offset,
                        p.status
                    );
                    break;
                }
                off = p.next_begin_offset;
                short_since = None;
            }
        }
        anyhow::Ok(())
    }
    .await;
    a.close();
    res.map(|_| n)
}

/// Wait (at most [`UNCONFIRMED_TAIL_WAIT`]) until the broker at `addr` has put into its
/// consume queues everything its commit log held when the wait began (its
/// `commitLogMaxOffset` − `dispatchBehindBytes`): a replica acknowledges what its commit log
/// holds and indexes it right after, so a pass started in between would miss messages it does
/// hold. A broker that does not say goes on at once.
async fn dispatched(a: &Admin, addr: &str) {
    let sample = || async {
        let i = a.broker_runtime_info(addr).await.ok()?;
        let num = |k: &str| i.get(k).and_then(|v| v.parse::<i64>().ok());
        let max = num("commitLogMaxOffset")?;
        Some((max, max - num("dispatchBehindBytes")?))
    };
    let Some((target, mut done)) = sample().await else { return };
    let end = std::time::Instant::now() + UNCONFIRMED_TAIL_WAIT;
    while done < target && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let Some((_, d)) = sample().await else { return };
        done = d;
    }
}

/// Every replica (master and slaves) of every broker group routing `topic`, with the
/// group's read queue count, from the name servers `namesrv` (`;`-separated).
pub async fn replicas(namesrv: &str, topic: &str) -> anyhow::Result<Vec<(Replica, i32)>> {
    let a = Admin::with_timeout(namesrv, Duration::from_secs(5)).await?;
    let route = a.topic_route(topic).await;
    a.close();
    let route = route?;
    let mut out = Vec::new();
    for b in &route.broker_datas {
        let queues = route
            .queue_datas
            .iter()
            .find(|q| q.broker_name == b.broker_name)
            .map(|q| q.read_queue_nums)
            .unwrap_or(0);
        for addr in b.broker_addrs.values() {
            out.push((Replica { broker: b.broker_name.clone(), addr: addr.clone() }, queues));
        }
    }
    Ok(out)
}

/// The final read-back: every queue of every replica the name servers route for `topic`.
pub async fn read_all(namesrv: &str, topic: &str, rec: &Recorder) -> anyhow::Result<usize> {
    let mut n = 0;
    for (r, queues) in replicas(namesrv, topic).await? {
        n += read_replica(&r, topic, queues, Via::Final, rec).await?;
    }
    Ok(n)
}
