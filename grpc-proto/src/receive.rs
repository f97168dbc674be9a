//! `ReceiveMessageResponse` (service.proto) written by hand instead of generated, for one
//! extra content: a message the server has already encoded ([`Content::Encoded`]). A broker
//! encodes a delivered message straight from its stored record, without building the
//! `Message` struct (a dozen owned strings, a map and a vector per message) that prost would
//! then walk twice to encode. On the wire it is field 2 (`Message message`) like
//! [`Content::Message`], so a receiver decodes it as that.

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use crate::v2::{Message, Status};

/// A frame of a ReceiveMessage stream: its status, a message or the delivery timestamp.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct ReceiveMessageResponse {
    /// `oneof content`.
    pub content: Option<receive_message_response::Content>,
}

/// Nested types of [`ReceiveMessageResponse`], where the generated code would put them.
pub mod receive_message_response {
    use super::*;

    /// `oneof content` of `ReceiveMessageResponse`. (Unboxed, as prost generates a oneof.)
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, PartialEq, Debug)]
    pub enum Content {
        /// `Status status = 1`.
        Status(Status),
        /// `Message message = 2`.
        Message(Message),
        /// `google.protobuf.Timestamp delivery_timestamp = 3`.
        DeliveryTimestamp(prost_types::Timestamp),
        /// `Message message = 2`, already encoded: the message's fields, without the field's
        /// key and length. Sent only; a received message decodes as [`Content::Message`].
        Encoded(Bytes),
    }
}

use receive_message_response::Content;

impl prost::Message for ReceiveMessageResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match &self.content {
            None => {}
            Some(Content::Status(s)) => encoding::message::encode(1, s, buf),
            Some(Content::Message(m)) => encoding::message::encode(2, m, buf),
            Some(Content::DeliveryTimestamp(t)) => encoding::message::encode(3, t, buf),
            Some(Content::Encoded(b)) => {
                encoding::encode_key(2, WireType::LengthDelimited, buf);
                encoding::encode_varint(b.len() as u64, buf);
                buf.put_slice(b);
            }
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        // As generated code merges a oneof: into the same variant if it is set, else anew.
        match tag {
            1 => {
                let mut v = match self.content.take() {
                    Some(Content::Status(v)) => v,
                    _ => Status::default(),
                };
                let r = encoding::message::merge(wire_type, &mut v, buf, ctx);
                self.content = Some(Content::Status(v));
                r
            }
            2 => {
                let mut v = match self.content.take() {
                    Some(Content::Message(v)) => v,
                    _ => Message::default(),
                };
                let r = encoding::message::merge(wire_type, &mut v, buf, ctx);
                self.content = Some(Content::Message(v));
                r
            }
            3 => {
                let mut v = match self.content.take() {
                    Some(Content::DeliveryTimestamp(v)) => v,
                    _ => prost_types::Timestamp::default(),
                };
                let r = encoding::message::merge(wire_type, &mut v, buf, ctx);
                self.content = Some(Content::DeliveryTimestamp(v));
                r
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        fn field(len: usize) -> usize {
            encoding::key_len(1) + encoding::encoded_len_varint(len as u64) + len
        }
        match &self.content {
            None => 0,
            Some(Content::Status(s)) => field(prost::Message::encoded_len(s)),
            Some(Content::Message(m)) => field(prost::Message::encoded_len(m)),
            Some(Content::DeliveryTimestamp(t)) => field(prost::Message::encoded_len(t)),
            Some(Content::Encoded(b)) => field(b.len()),
        }
    }

    fn clear(&mut self) {
        self.content = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::{Code, Resource};
    use prost::Message as _;

    #[test]
    fn every_content_round_trips_and_encoded_reads_as_a_message() {
        let m = Message {
            topic: Some(Resource { resource_namespace: String::new(), name: "T".into() }),
            body: Bytes::from_static(b"hello"),
            ..Default::default()
        };
        let all = [
            Content::Status(Status { code: Code::Ok as i32, message: "OK".into() }),
            Content::Message(m.clone()),
            Content::DeliveryTimestamp(prost_types::Timestamp { seconds: 5, nanos: 6 }),
        ];
        for c in all {
            let r = ReceiveMessageResponse { content: Some(c) };
            let bytes = r.encode_to_vec();
            assert_eq!(bytes.len(), r.encoded_len());
            assert_eq!(ReceiveMessageResponse::decode(&bytes[..]).unwrap(), r);
        }
        let pre =
            ReceiveMessageResponse { content: Some(Content::Encoded(m.encode_to_vec().into())) };
        let bytes = pre.encode_to_vec();
        assert_eq!(bytes.len(), pre.encoded_len());
        let got = ReceiveMessageResponse::decode(&bytes[..]).unwrap();
        assert_eq!(got.content, Some(Content::Message(m)));
        assert_eq!(ReceiveMessageResponse::decode(&[][..]).unwrap().content, None);
        // Unknown fields are skipped; a truncated message is an error.
        assert_eq!(ReceiveMessageResponse::decode(&[0x20, 0x01][..]).unwrap().content, None);
        assert!(ReceiveMessageResponse::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
