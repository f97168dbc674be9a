//! Property tests of the stored-record and batch codecs: round trips, and arbitrary bytes
//! never panic the decoders.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use mq_common::message::{
    crc32_masked, decode_all, decode_batch, encode_batch, encode_record, property, BatchItem,
    MessageExt, RecordFields, RecordView,
};
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(a, p)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), p)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(a, p)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), p)),
    ]
}

fn props() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[A-Za-z_]{1,12}", "[ -~é中]{1,20}"), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn record_round_trip(
        queue_id in any::<i32>(), flag in any::<i32>(), qo in any::<i64>(), po in any::<i64>(),
        sys in 0i32..0x800, born_ts in any::<i64>(), store_ts in any::<i64>(),
        born in addr(), store in addr(), rt in any::<i32>(), pto in any::<i64>(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        topic in "[%|a-zA-Z0-9_-]{1,127}", p in props(),
    ) {
        let properties = property::encode_properties(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let f = RecordFields {
            queue_id, flag, queue_offset: qo, physical_offset: po, sys_flag: sys,
            born_timestamp: born_ts, born_host: born, store_timestamp: store_ts, store_host: store,
            reconsume_times: rt, prepared_transaction_offset: pto, body: &body,
            body_crc: crc32_masked(&body), topic: &topic, properties: &properties,
        };
        let enc = encode_record(&f).unwrap();
        let v = RecordView::parse(&enc, true).unwrap();
        prop_assert_eq!(v.total_size as usize, enc.len());
        prop_assert_eq!(v.fields().effective_sys_flag(), f.effective_sys_flag());
        prop_assert_eq!(v.born_host, born);
        prop_assert_eq!(v.store_host, store);
        prop_assert_eq!(v.body, &body[..]);
        prop_assert_eq!(v.topic, topic.as_str());
        prop_assert_eq!(v.properties, properties.as_str());
        let (m, n) = MessageExt::decode(&Bytes::from(enc.clone()), true).unwrap();
        prop_assert_eq!(n, enc.len());
        prop_assert_eq!(m.queue_offset, qo);
        prop_assert_eq!(m.commit_log_offset, po);
        let expected: std::collections::BTreeMap<String, String> = p.into_iter().collect();
        prop_assert_eq!(&m.properties, &expected);
        // Re-encoding the decoded view is byte-identical.
        prop_assert_eq!(encode_record(&v.fields()).unwrap(), enc);
    }

    #[test]
    fn decoders_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
        let b = Bytes::from(buf);
        let _ = RecordView::parse(&b, true);
        let _ = decode_all(&b, false);
        let _ = decode_batch(&b);
        let _ = property::decode_properties(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn mutated_records_never_panic(pos in 0usize..200, val in any::<u8>(), cut in 0usize..250) {
        let f = RecordFields {
            queue_id: 1, flag: 2, queue_offset: 3, physical_offset: 4, sys_flag: 0,
            born_timestamp: 5, born_host: "1.2.3.4:5".parse().unwrap(), store_timestamp: 6,
            store_host: "6.7.8.9:10".parse().unwrap(), reconsume_times: 0,
            prepared_transaction_offset: 0, body: b"0123456789", body_crc: crc32_masked(b"0123456789"),
            topic: "TopicA", properties: "KEYS\u{1}k\u{2}",
        };
        let mut enc = encode_record(&f).unwrap();
        let i = pos % enc.len();
        enc[i] = val;
        enc.truncate(cut.min(enc.len()));
        let _ = decode_all(&Bytes::from(enc), true);
    }

    #[test]
    fn batch_round_trip(items in proptest::collection::vec(
        (any::<i32>(), proptest::collection::vec(any::<u8>(), 0..100), props()), 0..8)) {
        let items: Vec<BatchItem> = items.into_iter().map(|(flag, body, p)| BatchItem {
            flag, body: Bytes::from(body),
            properties: property::encode_properties(p.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        }).collect();
        let enc = encode_batch(&items);
        prop_assert_eq!(decode_batch(&Bytes::from(enc)).unwrap(), items);
    }
}
