//! SYSFLAG bits of a stored message (spec §3.3).

/// Body is compressed (zlib unless the compression-type bits say otherwise).
pub const COMPRESSED_FLAG: i32 = 0x1;
/// Set by the broker for MULTI_TAG topics.
pub const MULTI_TAGS_FLAG: i32 = 0x2;
/// Transaction type: plain message.
pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
/// Transaction type: half (prepared) message.
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
/// Transaction type: commit record.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
/// Transaction type: rollback record.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
/// Born host is a 16-byte IPv6 address.
pub const BORNHOST_V6_FLAG: i32 = 0x10;
/// Store host is a 16-byte IPv6 address.
pub const STOREHOSTADDRESS_V6_FLAG: i32 = 0x20;
/// 5.x auto-batch: needs unwrapping.
pub const NEED_UNWRAP_FLAG: i32 = 0x40;
/// 5.x inner batch (batch consume queue).
pub const INNER_BATCH_FLAG: i32 = 0x80;
/// Mask of the 5.x compression-type bits (0 = legacy zlib, 1 LZ4, 2 ZSTD, 3 ZLIB).
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
/// Compression type ZLIB as written by 5.x producers (`3 << 8`).
pub const COMPRESSION_ZLIB: i32 = 0x300;

/// The transaction bits of `sys_flag` (`flag & 0xC`).
#[inline]
pub fn transaction_value(sys_flag: i32) -> i32 {
    sys_flag & TRANSACTION_ROLLBACK_TYPE
}

/// `sys_flag` with its transaction bits replaced by `ty`.
#[inline]
pub fn reset_transaction_value(sys_flag: i32, ty: i32) -> i32 {
    (sys_flag & !TRANSACTION_ROLLBACK_TYPE) | (ty & TRANSACTION_ROLLBACK_TYPE)
}

/// Whether a record with this flag goes to a consume queue (NOT_TYPE and COMMIT do;
/// PREPARED and ROLLBACK do not).
#[inline]
pub fn is_dispatchable(sys_flag: i32) -> bool {
    matches!(transaction_value(sys_flag), TRANSACTION_NOT_TYPE | TRANSACTION_COMMIT_TYPE)
}
