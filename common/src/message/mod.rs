//! The RocketMQ message model and the stored-record codec (spec §3, `docs/protocol.md`).
//!
//! Pure code, no I/O. Shared by the broker's store (which writes records into the commit log)
//! and by clients (which decode PULL/QUERY/VIEW bodies: concatenated stored records).
//!
//! * [`property`]: well-known property keys and the `0x01`/`0x02` properties string.
//! * [`sysflag`]: SYSFLAG bits.
//! * [`record`]: the §3.1 record encoder and a robust decoder ([`RecordView`], [`MessageExt`]).
//! * [`batch`]: the §3.6 SEND_BATCH body.
//! * [`msg_id`]: offsetMsgId (§3.7) and the client-side UNIQ_KEY generator.
//! * [`util`]: Java `String.hashCode`, masked CRC32, zlib helpers.

pub mod batch;
pub mod msg_id;
pub mod property;
pub mod record;
pub mod sysflag;
mod types;
pub mod util;

pub use batch::{
    decode_batch, decode_batch_refs, encode_batch, merge_batch_properties, BatchItem, BatchItemRef,
};
pub use msg_id::{decode_offset_msg_id, encode_offset_msg_id, UniqIdGenerator};
pub use property::{decode_properties, encode_properties};
pub use record::{
    decode_all, encode_record, encode_record_into, record_len, DecodeError, EncodeError,
    MessageExt, RecordFields, RecordView, BLANK_MAGIC_CODE, MESSAGE_MAGIC_CODE_V1,
    MESSAGE_MAGIC_CODE_V2,
};
pub use types::{Message, MessageExtBrokerInner};
pub use util::{crc32_masked, java_hash, tags_code};
