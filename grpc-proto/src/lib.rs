//! The RocketMQ 5.x gRPC protocol (`apache.rocketmq.v2`): prost messages and the tonic
//! `MessagingService` server and client, generated at build time from this crate's own
//! `.proto` files (written from the design notes' field tables, `docs/grpc.md` §3; not copied
//! from upstream).
#![forbid(unsafe_code)]

/// Generated types of package `apache.rocketmq.v2`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v2 {
    tonic::include_proto!("apache.rocketmq.v2");
}

pub use prost_types::{Duration, Timestamp};

/// `m` in gRPC's length-prefixed message framing, uncompressed (flag 0, 4-byte big-endian
/// length, the protobuf bytes): what travels in a call's DATA frames. For the paths that frame
/// messages themselves instead of through tonic's codec (the broker's hot unary answers,
/// mqbench's client).
pub fn frame(m: &impl prost::Message) -> bytes::Bytes {
    let mut b = bytes::BytesMut::with_capacity(5 + m.encoded_len());
    put_frame(&mut b, m);
    b.freeze()
}

/// Append `m` to `b` as one gRPC frame ([`frame`]'s bytes): for answers made of several.
pub fn put_frame(b: &mut bytes::BytesMut, m: &impl prost::Message) {
    use bytes::BufMut;
    let len = m.encoded_len();
    b.put_u8(0);
    b.put_u32(len as u32);
    m.encode(b).expect("BytesMut grows");
}
pub use v2::messaging_service_client::MessagingServiceClient;
pub use v2::messaging_service_server::{MessagingService, MessagingServiceServer};
