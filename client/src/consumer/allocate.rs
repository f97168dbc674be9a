//! Queue allocation among the members of a consumer group (Java `AllocateMessageQueueAveragely`).
//!
//! Every member computes the same answer from the same sorted inputs, so no coordination is
//! needed beyond agreeing on the member list (GET_CONSUMER_LIST_BY_GROUP).

use mq_common::protocol::body::MessageQueue;

/// Average allocation: contiguous blocks, the first `queues % members` members get one extra.
/// `queues` and `members` must be sorted; a client not in `members` gets nothing.
pub fn allocate_averagely(
    queues: &[MessageQueue],
    members: &[String],
    me: &str,
) -> Vec<MessageQueue> {
    let Some(index) = members.iter().position(|m| m == me) else { return Vec::new() };
    let (n, c) = (queues.len(), members.len());
    if n == 0 {
        return Vec::new();
    }
    let m = n % c;
    let average = if n <= c {
        1
    } else if m > 0 && index < m {
        n / c + 1
    } else {
        n / c
    };
    let start = if m > 0 && index < m { index * average } else { index * average + m };
    let range = average.min(n.saturating_sub(start));
    (0..range).map(|i| queues[(start + i) % n].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn qs(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }
    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn splits_evenly_and_completely() {
        for nq in 0..12 {
            for nc in 1..6 {
                let q = qs(nq);
                let c = ids(nc);
                let mut all = BTreeSet::new();
                let mut total = 0;
                for me in &c {
                    let got = allocate_averagely(&q, &c, me);
                    total += got.len();
                    all.extend(got);
                }
                assert_eq!(all.len(), nq as usize, "nq={nq} nc={nc}");
                assert_eq!(total, nq as usize, "no queue assigned twice");
            }
        }
    }

    #[test]
    fn matches_java_layout() {
        // 8 queues, 3 consumers: 3, 3, 2 contiguous.
        let q = qs(8);
        let c = ids(3);
        let ids_of = |me: &str| {
            allocate_averagely(&q, &c, me).iter().map(|m| m.queue_id).collect::<Vec<_>>()
        };
        assert_eq!(ids_of("c0"), vec![0, 1, 2]);
        assert_eq!(ids_of("c1"), vec![3, 4, 5]);
        assert_eq!(ids_of("c2"), vec![6, 7]);
        assert!(allocate_averagely(&q, &c, "stranger").is_empty());
        // More consumers than queues: the last ones idle.
        let c5 = ids(5);
        assert_eq!(allocate_averagely(&qs(2), &c5, "c4").len(), 0);
        assert_eq!(allocate_averagely(&qs(2), &c5, "c1").len(), 1);
    }
}
