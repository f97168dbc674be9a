//! Model-based property test: random sequences of appends (single and batch, sized to force
//! file rolls), reads, key queries and restarts (clean or crash-like) against an in-memory model.

use std::collections::HashMap;
use std::sync::Arc;

use mq_broker::store::*;
use mq_common::message::{decode_all, java_hash, RecordView};
use mq_store_tests::{msg, small_config};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put { queue: i32, len: usize, tag: u8 },
    Batch { queue: i32, n: usize, len: usize },
    Read { queue: i32, from: usize, max: usize, tag: Option<u8> },
    Query { pick: usize },
    Restart { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3i32, 0..3000usize, 0..3u8).prop_map(|(queue, len, tag)| Op::Put { queue, len, tag }),
        2 => (0..3i32, 1..6usize, 0..1500usize).prop_map(|(queue, n, len)| Op::Batch { queue, n, len }),
        3 => (0..3i32, 0..200usize, 1..40usize, proptest::option::of(0..3u8))
            .prop_map(|(queue, from, max, tag)| Op::Read { queue, from, max, tag }),
        2 => any::<usize>().prop_map(|pick| Op::Query { pick }),
        1 => any::<bool>().prop_map(|clean| Op::Restart { clean }),
    ]
}

#[derive(Clone)]
struct Entry {
    key: String,
    tag: u8,
    len: usize,
    phy: i64,
}

fn open(dir: &std::path::Path) -> Arc<MessageStore> {
    let mut c = small_config(dir, FlushDiskType::Async);
    c.mapped_file_size_commit_log = 16 * 1024;
    let s = MessageStore::open(c).unwrap();
    s.start().unwrap();
    s
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let mut model: HashMap<i32, Vec<Entry>> = HashMap::new();
    let mut all: Vec<(i32, usize)> = Vec::new();
    let mut seq = 0usize;
    for op in ops {
        match op {
            Op::Put { queue, len, tag } => {
                seq += 1;
                let key = format!("m{seq}");
                let r = store
                    .put_message(msg(
                        "TopicM",
                        queue,
                        &format!("tag{tag}"),
                        &key,
                        vec![seq as u8; len],
                    ))
                    .result;
                prop_assert_eq!(r.status, PutMessageStatus::PutOk);
                let q = model.entry(queue).or_default();
                prop_assert_eq!(r.queue_offset, q.len() as i64);
                q.push(Entry { key, tag, len, phy: r.wrote_offset });
                all.push((queue, q.len() - 1));
            }
            Op::Batch { queue, n, len } => {
                let mut msgs = Vec::new();
                let mut keys = Vec::new();
                for _ in 0..n {
                    seq += 1;
                    let key = format!("m{seq}");
                    msgs.push(msg("TopicM", queue, "tag0", &key, vec![seq as u8; len]));
                    keys.push(key);
                }
                let r = store.put_messages(msgs).result;
                prop_assert_eq!(r.status, PutMessageStatus::PutOk);
                let q = model.entry(queue).or_default();
                prop_assert_eq!(r.queue_offset, q.len() as i64);
                let ids: Vec<i64> = r
                    .msg_ids
                    .iter()
                    .map(|id| mq_common::message::decode_offset_msg_id(id).unwrap().1)
                    .collect();
                for (key, phy) in keys.into_iter().zip(ids) {
                    q.push(Entry { key, tag: 0, len, phy });
                    all.push((queue, q.len() - 1));
                }
            }
            Op::Read { queue, from, max, tag } => {
                let q = model.get(&queue).cloned().unwrap_or_default();
                let want_tag = tag.map(|t| java_hash(&format!("tag{t}")) as i64);
                let f = move |c: i64| want_tag.is_none_or(|w| w == c);
                let r =
                    store.get_message("g", "TopicM", queue, from as i64, max, 1 << 20, Some(&f));
                prop_assert_eq!(r.max_offset, q.len() as i64);
                if q.is_empty() {
                    prop_assert!(matches!(
                        r.status,
                        GetMessageStatus::NoMatchedLogicQueue | GetMessageStatus::NoMessageInQueue
                    ));
                    continue;
                }
                if from >= q.len() {
                    prop_assert_eq!(r.msg_count, 0);
                    continue;
                }
                let scanned = (r.next_begin_offset as usize).saturating_sub(from);
                prop_assert!(scanned >= 1);
                let expected: Vec<&Entry> = q[from..from + scanned]
                    .iter()
                    .filter(|e| tag.is_none_or(|t| t == e.tag))
                    .collect();
                prop_assert!(expected.len() <= max);
                let got = decode_all(&r.concat(), true).unwrap();
                prop_assert_eq!(got.len(), expected.len());
                for (g, e) in got.iter().zip(&expected) {
                    prop_assert_eq!(g.keys(), vec![e.key.as_str()]);
                    prop_assert_eq!(g.body.len(), e.len);
                    prop_assert_eq!(g.commit_log_offset, e.phy);
                }
            }
            Op::Query { pick } => {
                if all.is_empty() {
                    continue;
                }
                let (q, i) = all[pick % all.len()];
                let e = &model[&q][i];
                let r = store.query_message("TopicM", &e.key, 4, 0, i64::MAX);
                prop_assert!(r.phy_offsets.contains(&e.phy));
                let idx = r.phy_offsets.iter().position(|p| *p == e.phy).unwrap();
                let v = RecordView::parse(&r.messages[idx], true).unwrap();
                prop_assert_eq!(v.property("KEYS"), Some(e.key.as_str()));
            }
            Op::Restart { clean } => {
                if clean {
                    store.shutdown().unwrap();
                } else {
                    store.halt();
                }
                drop(store);
                store = open(dir.path());
                for (q, entries) in &model {
                    prop_assert_eq!(
                        store.get_max_offset_in_queue("TopicM", *q),
                        entries.len() as i64
                    );
                }
            }
        }
    }
    store.shutdown().unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
