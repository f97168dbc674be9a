//! Inbox cursors: `"<queue_count>/<queue_id>/<queue_offset>"` (design §3).
//!
//! Within one room every event lives in one queue, so the offset alone orders it; the queue
//! count is carried so a cursor from before a (forbidden) re-sharding is detected, not misread.

use std::fmt;
use std::str::FromStr;

/// Position of an event in `chat_inbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Number of queues of the topic when the cursor was made.
    pub queues: i32,
    /// Queue id.
    pub queue: i32,
    /// Logical offset in the queue.
    pub offset: i64,
}

/// A string that is not a cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor {0:?}")]
pub struct CursorError(pub String);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.queues, self.queue, self.offset)
    }
}

impl FromStr for Cursor {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CursorError(s.to_string());
        let mut it = s.split('/');
        let queues: i32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let queue: i32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let offset: i64 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        if it.next().is_some() || queues <= 0 || queue < 0 || queue >= queues || offset < 0 {
            return Err(bad());
        }
        Ok(Cursor { queues, queue, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let c: Cursor = "8/5/2207".parse().unwrap();
        assert_eq!(c, Cursor { queues: 8, queue: 5, offset: 2207 });
        assert_eq!(c.to_string(), "8/5/2207");
        assert!(c < "8/5/2208".parse().unwrap());
        for bad in ["", "8/8/1", "8/1", "8/1/2/3", "x/1/2", "0/0/0", "8/1/-1"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }
}
