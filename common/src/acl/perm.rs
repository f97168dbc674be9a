//! Permission bits of ACL 1.0 (Java `Permission`): what an account may do with a topic or a
//! group, and the check Java applies.

/// A set of permission bits: `DENY=1`, `ANY=2`, `PUB=4`, `SUB=8` (Java's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perm(u8);

impl Perm {
    /// Explicitly denied (wins over everything).
    pub const DENY: Perm = Perm(1);
    /// Needed: PUB or SUB, either will do.
    pub const ANY: Perm = Perm(2);
    /// Publish.
    pub const PUB: Perm = Perm(4);
    /// Subscribe.
    pub const SUB: Perm = Perm(8);
    /// Publish and subscribe.
    pub const PUB_SUB: Perm = Perm(4 | 8);

    /// Parse a `plain_acl.yml` permission: `DENY`, `PUB`, `SUB`, `PUB|SUB`, `SUB|PUB`
    /// (surrounding blanks ignored). Anything else is `None`; Java then treats it as DENY.
    pub fn parse(s: &str) -> Option<Perm> {
        match s.trim() {
            "DENY" => Some(Perm::DENY),
            "PUB" => Some(Perm::PUB),
            "SUB" => Some(Perm::SUB),
            "PUB|SUB" | "SUB|PUB" => Some(Perm::PUB_SUB),
            _ => None,
        }
    }

    /// Java's `Permission.checkPermission(needed, owned)`: owned DENY fails; needed ANY is
    /// met by PUB or SUB; otherwise any common bit.
    pub fn allows(self, needed: Perm) -> bool {
        if self.0 & Perm::DENY.0 != 0 {
            return false;
        }
        if needed.0 & Perm::ANY.0 != 0 {
            return self.0 & (Perm::PUB.0 | Perm::SUB.0) != 0;
        }
        self.0 & needed.0 != 0
    }

    /// The text form used in `plain_acl.yml`.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "DENY",
            2 => "ANY",
            4 => "PUB",
            8 => "SUB",
            12 => "PUB|SUB",
            _ => "DENY",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_check_like_java() {
        assert_eq!(Perm::parse(" SUB|PUB "), Some(Perm::PUB_SUB));
        assert_eq!(Perm::parse("pub"), None);
        assert!(Perm::PUB_SUB.allows(Perm::PUB) && Perm::PUB_SUB.allows(Perm::SUB));
        assert!(Perm::PUB.allows(Perm::PUB) && !Perm::PUB.allows(Perm::SUB));
        assert!(Perm::SUB.allows(Perm::ANY) && Perm::PUB.allows(Perm::ANY));
        assert!(!Perm::DENY.allows(Perm::PUB) && !Perm::DENY.allows(Perm::ANY));
        for p in [Perm::DENY, Perm::PUB, Perm::SUB, Perm::PUB_SUB] {
            assert_eq!(Perm::parse(p.name()), Some(p));
        }
    }
}
