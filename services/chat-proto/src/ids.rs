//! Identifiers (design §3): users, rooms, client message ids, and the conversation shard.

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not `[A-Za-z0-9-]{1,64}`.
    #[error("invalid user id {0:?}")]
    User(String),
    /// Neither `d_<a>_<b>` (a < b) nor `r_<name>`.
    #[error("invalid room id {0:?}")]
    Room(String),
    /// Not `[A-Za-z0-9_-]{8,64}`.
    #[error("invalid message id {0:?}")]
    Message(String),
}

fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Check a user id (`[A-Za-z0-9-]{1,64}`, the JWT `sub`).
pub fn validate_uid(uid: &str) -> Result<(), IdError> {
    if is_name(uid) {
        Ok(())
    } else {
        Err(IdError::User(uid.to_string()))
    }
}

/// Check a client message id (`[A-Za-z0-9_-]{8,64}`), the idempotency key of a send.
pub fn validate_msg_id(id: &str) -> Result<(), IdError> {
    if (8..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(IdError::Message(id.to_string()))
    }
}

/// A parsed room id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Room {
    /// A direct message between two users, `a < b`.
    Direct(String, String),
    /// A named room.
    Named(String),
}

impl Room {
    /// Parse `d_<a>_<b>` (user ids contain no `_`, and `a < b` keeps the id unique) or `r_<name>`.
    pub fn parse(rid: &str) -> Result<Room, IdError> {
        let bad = || IdError::Room(rid.to_string());
        if let Some(rest) = rid.strip_prefix("d_") {
            let (a, b) = rest.split_once('_').ok_or_else(bad)?;
            if is_name(a) && is_name(b) && a < b {
                return Ok(Room::Direct(a.into(), b.into()));
            }
            return Err(bad());
        }
        if let Some(name) = rid.strip_prefix("r_") {
            if is_name(name) {
                return Ok(Room::Named(name.into()));
            }
        }
        Err(bad())
    }

    /// The two parties of a DM.
    pub fn parties(&self) -> Option<(&str, &str)> {
        match self {
            Room::Direct(a, b) => Some((a, b)),
            Room::Named(_) => None,
        }
    }

    /// Whether `uid` is a party of this DM (always false for named rooms).
    pub fn is_party(&self, uid: &str) -> bool {
        matches!(self, Room::Direct(a, b) if a == uid || b == uid)
    }

    /// The other party of a DM, seen from `uid`.
    pub fn other_party(&self, uid: &str) -> Option<&str> {
        match self {
            Room::Direct(a, b) if a == uid => Some(b),
            Room::Direct(a, b) if b == uid => Some(a),
            _ => None,
        }
    }

    /// Rocket.Chat room type: `d` for DMs, `c` for rooms.
    pub fn kind(&self) -> &'static str {
        match self {
            Room::Direct(..) => "d",
            Room::Named(_) => "c",
        }
    }
}

/// The deterministic DM room id of two users: `d_<min>_<max>`.
pub fn dm_rid(a: &str, b: &str) -> Result<String, IdError> {
    validate_uid(a)?;
    validate_uid(b)?;
    if a == b {
        return Err(IdError::Room(format!("d_{a}_{b}")));
    }
    let (x, y) = if a < b { (a, b) } else { (b, a) };
    Ok(format!("d_{x}_{y}"))
}

/// 32-bit FNV-1a of the UTF-8 bytes.
pub fn fnv1a32(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The queue of a key among `n` queues: `fnv1a32(key) % n` (n = 0 is treated as 1).
pub fn shard(key: &str, n: usize) -> usize {
    (fnv1a32(key) as usize) % n.max(1)
}

/// A fresh random id in the client-id alphabet (17 characters, like Meteor's `Random.id()`).
pub fn random_id(rng_bytes: &[u8; 17]) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";
    rng_bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_rid_is_ordered_and_parses_back() {
        assert_eq!(dm_rid("bob", "alice").unwrap(), "d_alice_bob");
        assert_eq!(dm_rid("alice", "bob").unwrap(), "d_alice_bob");
        assert!(dm_rid("alice", "alice").is_err());
        assert!(dm_rid("al_ice", "bob").is_err());
        let r = Room::parse("d_alice_bob").unwrap();
        assert_eq!(r.parties(), Some(("alice", "bob")));
        assert_eq!(r.other_party("bob"), Some("alice"));
        assert!(r.is_party("alice") && !r.is_party("carol"));
        assert_eq!(r.kind(), "d");
    }

    #[test]
    fn room_grammar() {
        assert_eq!(Room::parse("r_general").unwrap(), Room::Named("general".into()));
        for bad in ["d_bob_alice", "d_alice", "r_", "x_y", "d_a_b_c", "r_has space", ""] {
            assert!(Room::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids() {
        assert!(validate_uid("alice-1").is_ok());
        assert!(validate_uid("").is_err());
        assert!(validate_uid(&"a".repeat(65)).is_err());
        assert!(validate_msg_id("q9XkT2mB7aZpLw3Rc").is_ok());
        assert!(validate_msg_id("short").is_err());
        assert!(validate_msg_id("has space!").is_err());
        assert_eq!(random_id(&[0; 17]).len(), 17);
        assert!(validate_msg_id(&random_id(&[200; 17])).is_ok());
    }

    #[test]
    fn fnv_reference_values() {
        // Published FNV-1a 32-bit test vectors.
        assert_eq!(fnv1a32(""), 0x811c9dc5);
        assert_eq!(fnv1a32("a"), 0xe40c292c);
        assert_eq!(fnv1a32("foobar"), 0xbf9cf968);
        assert!(shard("d_alice_bob", 8) < 8);
        assert_eq!(shard("x", 0), 0);
    }
}
