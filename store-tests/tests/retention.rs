//! Retention: expired commit-log files go at deleteWhen or above the disk ratio, live ones and
//! the active file stay; consume-queue and index files below the new minimum follow.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mq_broker::store::*;
use mq_store_tests::{msg, small_config};

struct FakeClock {
    hour: AtomicU32,
}

impl StoreClock for FakeClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms()
    }
    fn local_hour(&self) -> u32 {
        self.hour.load(Ordering::Relaxed)
    }
}

fn files(dir: &std::path::Path, sub: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join(sub))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn age(path: &std::path::Path, hours: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(hours * 3600)).unwrap();
}

#[test]
fn expired_files_go_live_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock { hour: AtomicU32::new(12) });
    let disk = Arc::new(AtomicI64::new(10)); // percent
    let d2 = disk.clone();
    let hooks = StoreHooks {
        clock: clock.clone(),
        disk_usage: Arc::new(move |_| d2.load(Ordering::Relaxed) as f64 / 100.0),
    };
    let mut cfg = small_config(dir.path(), FlushDiskType::Async);
    cfg.delete_when = "04;05".into();
    cfg.file_reserved_time = 48;
    cfg.max_index_num = 100;
    let store = MessageStore::open_with(cfg, hooks).unwrap();
    let mut phys = Vec::new();
    for i in 0..400 {
        let r = store.put_message(msg("TopicR", i % 2, "t", &format!("k{i}"), vec![0u8; 1000]));
        phys.push(r.wrote_offset);
    }
    let cl = files(dir.path(), "commitlog");
    assert!(cl.len() >= 6, "{}", cl.len());
    // The first three files are old, the rest fresh.
    for p in &cl[..3] {
        age(p, 100);
    }
    // Wrong hour, low disk usage: nothing happens.
    let r = store.clean_expired_files();
    assert!(!r.triggered);
    assert_eq!(files(dir.path(), "commitlog").len(), cl.len());

    // deleteWhen hour: only the expired files go.
    clock.hour.store(5, Ordering::Relaxed);
    let r = store.clean_expired_files();
    assert!(r.triggered);
    assert_eq!(r.commit_log_files, 3);
    assert_eq!(files(dir.path(), "commitlog"), cl[3..].to_vec());
    let min = store.get_min_phy_offset();
    assert_eq!(min, 3 * 64 * 1024);
    assert!(r.consume_queue_files > 0);
    assert!(r.index_files > 0);
    // Old messages are gone from queues and by id; new ones are still readable.
    let q_min = store.get_min_offset_in_queue("TopicR", 0);
    assert!(q_min > 0);
    let g = store.get_message("g", "TopicR", 0, 0, 4, 1 << 20, None);
    assert_eq!((g.status, g.next_begin_offset), (GetMessageStatus::OffsetTooSmall, q_min));
    let g = store.get_message("g", "TopicR", 0, q_min, 4, 1 << 20, None);
    assert_eq!(g.status, GetMessageStatus::Found);
    assert!(store.look_message_by_offset(phys[0]).is_none());
    assert!(store.look_message_by_offset(phys[399]).is_some());
    assert_eq!(store.query_message("TopicR", "k399", 4, 0, i64::MAX).phy_offsets, vec![phys[399]]);
    // Every consume-queue file left still references live data (or is the last one).
    for q in 0..2 {
        let qf = files(dir.path(), &format!("consumequeue/TopicR/{q}"));
        let first_start: i64 = qf[0].file_name().unwrap().to_str().unwrap().parse().unwrap();
        assert!(first_start / 20 <= store.get_min_offset_in_queue("TopicR", q));
    }

    // Disk above the ratio (but below forced deletion): fresh files stay.
    clock.hour.store(12, Ordering::Relaxed);
    disk.store(80, Ordering::Relaxed);
    let r = store.clean_expired_files();
    assert!(r.triggered);
    assert_eq!(r.commit_log_files, 0);
    // Above 85%: forced deletion, but never the active file, at most 10 per run.
    disk.store(88, Ordering::Relaxed);
    loop {
        if store.clean_expired_files().commit_log_files == 0 {
            break;
        }
    }
    let left = files(dir.path(), "commitlog");
    assert_eq!(left, vec![cl.last().unwrap().clone()]);
    let r = store.put_message(msg("TopicR", 0, "t", "after", vec![0u8; 10]));
    assert_eq!(r.status, PutMessageStatus::PutOk);
    // Above 90%: writes refused.
    disk.store(95, Ordering::Relaxed);
    store.clean_expired_files();
    assert_eq!(
        store.put_message(msg("TopicR", 0, "t", "full", vec![0u8; 10])).status,
        PutMessageStatus::ServiceNotAvailable
    );
    disk.store(10, Ordering::Relaxed);
    store.clean_expired_files();
    assert_eq!(
        store.put_message(msg("TopicR", 0, "t", "ok", vec![0u8; 10])).status,
        PutMessageStatus::PutOk
    );
    store.shutdown().unwrap();
    drop(store);
    // Restart after retention: offsets intact.
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    assert_eq!(store.get_max_offset_in_queue("TopicR", 0), 202);
    assert!(store.get_min_offset_in_queue("TopicR", 0) > q_min);
    store.shutdown().unwrap();
}

#[test]
fn manual_trigger_deletes_expired_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path(), FlushDiskType::Async);
    cfg.delete_when = "99".into();
    cfg.clean_resource_interval = 10;
    let store = MessageStore::open(cfg).unwrap();
    for i in 0..200 {
        store.put_message(msg("TopicR", 0, "t", &format!("k{i}"), vec![0u8; 1000]));
    }
    let cl = files(dir.path(), "commitlog");
    age(&cl[0], 1000);
    store.start().unwrap();
    store.trigger_delete_files();
    mq_test_support::wait_until_blocking(
        "the manual trigger to delete the expired file",
        Duration::from_secs(20),
        || files(dir.path(), "commitlog").first() != Some(&cl[0]),
    );
    assert_eq!(store.get_min_phy_offset(), 64 * 1024);
    store.shutdown().unwrap();
}
