//! Topic, tag, property and consumer-group names (design §4.3).
//!
//! Queue counts are part of the contract: the shard of a conversation is
//! `fnv1a32(rid) % queues`, so changing a count silently would reorder conversations. Services
//! refuse to start when the live route disagrees (see `ids::shard`).

/// Gateway → observer: client requests (messages, reads, blocks), ordered by room.
pub const CHAT_OUTGOING: &str = "chat_outgoing";
/// Observer → every gateway: accepted events; also the message store (keys `_id c:<rid> u:<uid>`).
pub const CHAT_INBOX: &str = "chat_inbox";
/// Observer → observers: snapshots of the DM block table (the last message is the state).
pub const CHAT_POLICY_STATE: &str = "chat_policy_state";
/// Tag of a policy snapshot.
pub const TAG_STATE: &str = "state";
/// Default queue count of both chat topics.
pub const CHAT_QUEUES: i32 = 8;

/// Tag of a chat message.
pub const TAG_MSG: &str = "msg";
/// Tag of a read receipt.
pub const TAG_READ: &str = "read";
/// Tag of a block event.
pub const TAG_BLOCK: &str = "block";
/// Tag of an unblock event.
pub const TAG_UNBLOCK: &str = "unblock";
/// Tag of a rejection sent back to the sender.
pub const TAG_REJECTED: &str = "rejected";

/// Message property on `chat_outgoing` carrying the sender's raw JWT (re-verified by the observer).
pub const PROP_JWT: &str = "jwt";
/// Message property naming the gateway that accepted the request.
pub const PROP_GW: &str = "gw";
/// Message property carrying the room id (lets gap-fill filter without parsing bodies).
pub const PROP_RID: &str = "rid";
/// Message property carrying the schema version.
pub const PROP_V: &str = "v";

/// Producer group of the gateways.
pub const PG_GATEWAY: &str = "pg_chat_gateway";
/// Producer group of the observers.
pub const PG_OBSERVER: &str = "pg_chat_observer";
/// Consumer group of the observers on `chat_outgoing` (clustering, orderly).
pub const CG_OBSERVER: &str = "cg_chat_observer";
/// Consumer group of the gateways on `chat_inbox` (broadcasting, orderly).
pub const CG_GATEWAY: &str = "cg_chat_gateway";
/// Group name the observers use to read `chat_inbox` back (rebuilding blocks and the dedupe window).
pub const CG_OBSERVER_FOLLOW: &str = "cg_chat_observer_policy";
/// Group name the gateways use for history/gap-fill pulls (never commits offsets).
pub const CG_GATEWAY_READER: &str = "cg_chat_gateway_reader";

/// Key under which every event of a conversation is indexed: `c:<rid>`.
pub fn conversation_key(rid: &str) -> String {
    format!("c:{rid}")
}

/// Key under which every message of a sender is indexed: `u:<uid>`.
pub fn sender_key(uid: &str) -> String {
    format!("u:{uid}")
}
