//! # chat-proto: the shared, I/O-free vocabulary of the chat services
//!
//! Everything the gateway, the observer and the test harness must agree on lives here
//! (design `docs/chat-presence.md` §3–4):
//!
//! * [`ids`] — user ids, room ids (`d_<a>_<b>` for DMs, `r_<name>` for rooms), client message ids
//!   and the `fnv1a32` shard function that maps a conversation onto a queue.
//! * [`cursor`] — the `"<queues>/<queue>/<offset>"` position of an inbox event.
//! * [`jwt`] — HS256 JSON Web Tokens with the chat claims and their scope rules.
//! * [`ddp`] — the DDP v1 frames the gateway accepts and sends.
//! * [`bodies`] — the JSON bodies carried by the `chat_outgoing` and `chat_inbox` topics.
//! * [`presence`] / [`presence_bodies`] / [`presence_cache`] — presence statuses, the
//!   Rocket.Chat aggregation rules, the presence topic bodies and the status cache fed by them.
//! * [`topics`] — topic, tag, property and group names with their fixed queue counts.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bodies;
pub mod cursor;
pub mod ddp;
pub mod ids;
pub mod jwt;
pub mod presence;
pub mod presence_bodies;
pub mod presence_cache;
pub mod topics;
