//! Presence statuses and the aggregation rules ported from Rocket.Chat
//! (`ee/packages/presence/src/lib/processConnectionStatus.ts`; design §1.2, §5.1).
//!
//! The model is **not** a flat ranking: connections only ever say `online` or `away`, the
//! user's manual default (`busy`, `away`, `offline` = invisible) overrides them, and an
//! offline connection status (no connection at all) always wins.

use serde::{Deserialize, Serialize};

/// A presence status with Rocket.Chat's numbering (`STATUS_MAP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No live connection, or invisible.
    #[default]
    Offline,
    /// Active.
    Online,
    /// Idle, or manually away.
    Away,
    /// Manual "do not disturb" (only ever a default, never a connection status).
    Busy,
}

impl Status {
    /// Rocket.Chat's status number: offline 0, online 1, away 2, busy 3.
    pub fn num(self) -> u8 {
        match self {
            Status::Offline => 0,
            Status::Online => 1,
            Status::Away => 2,
            Status::Busy => 3,
        }
    }

    /// Lower-case name as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Offline => "offline",
            Status::Online => "online",
            Status::Away => "away",
            Status::Busy => "busy",
        }
    }

    /// Parse a wire name (`online`, `away`, `busy`, `offline`).
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "offline" => Some(Status::Offline),
            "online" => Some(Status::Online),
            "away" => Some(Status::Away),
            "busy" => Some(Status::Busy),
            _ => None,
        }
    }

    /// Whether a connection may carry this status (only online and away).
    pub fn is_connection_status(self) -> bool {
        matches!(self, Status::Online | Status::Away)
    }
}

/// Rocket.Chat's connection reducer: ONLINE wins; otherwise the first non-offline status;
/// no connection at all means OFFLINE.
pub fn status_connection<I: IntoIterator<Item = Status>>(conns: I) -> Status {
    conns.into_iter().fold(Status::Offline, |cur, next| {
        if cur == Status::Online {
            cur
        } else if next != Status::Offline {
            next
        } else {
            cur
        }
    })
}

/// Rocket.Chat's `processStatus`: an offline connection status always wins; a default of
/// online defers to the connections; any other default (busy, away, offline = invisible)
/// overrides them.
pub fn compute_status(connection: Status, default: Status) -> Status {
    if connection == Status::Offline {
        Status::Offline
    } else if default == Status::Online {
        connection
    } else {
        default
    }
}

/// Longest accepted `statusText` (characters).
pub const MAX_STATUS_TEXT: usize = 120;

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    /// T11: the rules table of design §6, plus the reducer's edge cases.
    #[test]
    fn rules_table() {
        let table: &[(&[Status], Status, Status)] = &[
            (&[], Online, Offline),
            (&[Online], Online, Online),
            (&[Away], Online, Away),
            (&[Away, Online], Online, Online),
            (&[Online, Away], Online, Online),
            (&[Away, Away], Online, Away),
            (&[Online], Busy, Busy),
            (&[], Busy, Offline),
            (&[Online], Offline, Offline),
            (&[Away], Online, Away),
            (&[Away], Busy, Busy),
            (&[Online], Away, Away),
            (&[], Away, Offline),
            (&[], Offline, Offline),
            (&[Away, Online], Busy, Busy),
            (&[Offline], Online, Offline),
            (&[Offline, Away], Online, Away),
        ];
        for (conns, default, want) in table {
            let got = compute_status(status_connection(conns.iter().copied()), *default);
            assert_eq!(got, *want, "conns {conns:?} default {default:?}");
        }
    }

    #[test]
    fn numbers_and_names_round_trip() {
        for s in [Offline, Online, Away, Busy] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert_eq!([Offline.num(), Online.num(), Away.num(), Busy.num()], [0, 1, 2, 3]);
        assert!(Status::parse("invisible").is_none());
        assert!(!Busy.is_connection_status() && Away.is_connection_status());
    }
}
