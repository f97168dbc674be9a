//! `plain_acl.yml` (ACL 1.0, docs/acl-protocol.md §2): parsed and validated into [`PlainAcl`].
//!
//! The whole file is checked before it is used: an invalid file is an error naming the
//! problem, and the caller keeps the last good one. rmq is stricter than Java in one place:
//! an explicit permission that is not `DENY|PUB|SUB|PUB|SUB` is an error (Java silently
//! reads it as DENY), so a typo is reported instead of locking a client out unnoticed.

use std::collections::HashMap;

// FNV, not SipHash: these tables are built from the trusted file and only looked up with
// names from the wire (no inserts), so flooding is not possible; FNV hashes a short name
// in a few ns, SipHash in a few tens (common/benches/acl.rs times the whole check).
use crate::fnv::FnvBuild;

use yaml_rust2::{Yaml, YamlLoader};

use super::address::AddressPattern;
use super::perm::Perm;
use super::signature::SigningKey;

/// Prefix Java stores group permissions under (`groupPerms: [g=SUB]` → `%RETRY%g`).
pub const RETRY_PREFIX: &str = "%RETRY%";

/// Largest `plain_acl.yml` accepted (a bound on what one reload reads and parses).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// One account of the file.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// `accessKey` (≥ 7 characters).
    pub access_key: String,
    /// `secretKey` (≥ 7 characters; a YAML number is taken as its text).
    pub secret_key: String,
    /// `secretKey`, prepared for checking signatures.
    pub signing_key: SigningKey,
    /// `whiteRemoteAddress`: a matching client skips signature and permission checks.
    pub white_remote_address: AddressPattern,
    /// `admin`: may use admin request codes.
    pub admin: bool,
    /// `defaultTopicPerm` (missing or unknown: DENY, as Java).
    pub default_topic_perm: Perm,
    /// `defaultGroupPerm` (missing or unknown: DENY, as Java).
    pub default_group_perm: Perm,
    /// Explicit topic permissions (`topicPerms`).
    pub topics: HashMap<String, Perm, FnvBuild>,
    /// Explicit group permissions (`groupPerms`), by plain group name (Java keys them as
    /// `%RETRY%<group>`; keeping the bare name lets a lookup borrow the request's text).
    pub groups: HashMap<String, Perm, FnvBuild>,
}

/// What a request touches: a topic, or a consumer group. A topic named `%RETRY%<group>` is
/// the group (Java checks retry topics against group permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// A topic.
    Topic(&'a str),
    /// A consumer group (without the `%RETRY%` prefix).
    Group(&'a str),
}

impl<'a> Resource<'a> {
    /// A topic; `%RETRY%<group>` becomes [`Resource::Group`].
    pub fn topic(name: &'a str) -> Self {
        match name.strip_prefix(RETRY_PREFIX) {
            Some(g) => Resource::Group(g),
            None => Resource::Topic(name),
        }
    }
}

impl std::fmt::Display for Resource<'_> {
    /// Java's `PlainAccessResource.printStr`: `topic:<t>` / `group:<g>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Topic(t) => write!(f, "topic:{t}"),
            Resource::Group(g) => write!(f, "group:{g}"),
        }
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("access_key", &self.access_key)
            .field("admin", &self.admin)
            .field("default_topic_perm", &self.default_topic_perm)
            .field("default_group_perm", &self.default_group_perm)
            .field("topics", &self.topics)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The permission this account holds on `resource`: its explicit entry, else the
    /// default for its kind.
    pub fn perm_for(&self, resource: Resource<'_>) -> Perm {
        match resource {
            Resource::Topic(t) => self.topics.get(t).copied().unwrap_or(self.default_topic_perm),
            Resource::Group(g) => self.groups.get(g).copied().unwrap_or(self.default_group_perm),
        }
    }

    /// True when the file gave this account no `topicPerms` and no `groupPerms` (an admin
    /// without them passes every resource check, as Java).
    pub fn has_no_explicit_perms(&self) -> bool {
        self.topics.is_empty() && self.groups.is_empty()
    }
}

/// A validated `plain_acl.yml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainAcl {
    /// `globalWhiteRemoteAddresses`: a matching client skips every check.
    pub global_white: Vec<AddressPattern>,
    /// Accounts by access key.
    pub accounts: HashMap<String, Account, FnvBuild>,
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list<'a>(y: &'a Yaml, what: &str) -> Result<&'a [Yaml], String> {
    match y {
        Yaml::Array(a) => Ok(a),
        Yaml::Null | Yaml::BadValue => Ok(&[]),
        _ => Err(format!("{what} must be a list")),
    }
}

/// `name=PERM` entries into `out` (a group written as `%RETRY%g` is stored as `g`).
fn resource_perms(
    y: &Yaml,
    what: &str,
    out: &mut HashMap<String, Perm, FnvBuild>,
) -> Result<(), String> {
    for item in list(y, what)? {
        let s = text(item).ok_or_else(|| format!("{what}: entries must be name=PERM strings"))?;
        let (name, perm) =
            s.split_once('=').ok_or_else(|| format!("{what}: '{s}' is not name=PERM"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("{what}: '{s}' has no name"));
        }
        let perm = Perm::parse(perm).ok_or_else(|| {
            format!("{what}: '{s}': permission must be DENY, PUB, SUB or PUB|SUB")
        })?;
        out.insert(name.strip_prefix(RETRY_PREFIX).unwrap_or(name).to_string(), perm);
    }
    Ok(())
}

fn account(y: &Yaml, index: usize) -> Result<Account, String> {
    if !matches!(y, Yaml::Hash(_)) {
        return Err(format!("accounts[{index}] must be a mapping"));
    }
    let ak = text(&y["accessKey"]).unwrap_or_default();
    let sk = text(&y["secretKey"]).unwrap_or_default();
    // Java: "The accessKey=%s and secretKey=%s cannot be null and length should longer than 6".
    if ak.chars().count() <= 6 {
        return Err(format!(
            "accounts[{index}]: accessKey '{ak}' must be longer than 6 characters"
        ));
    }
    if sk.chars().count() <= 6 {
        return Err(format!(
            "accounts[{index}] ({ak}): secretKey must be longer than 6 characters"
        ));
    }
    let white = match &y["whiteRemoteAddress"] {
        Yaml::Null | Yaml::BadValue => AddressPattern::Nothing,
        v => AddressPattern::parse(&text(v).unwrap_or_default())
            .map_err(|e| format!("accounts[{index}] ({ak}): whiteRemoteAddress {e}"))?,
    };
    let admin = match &y["admin"] {
        Yaml::Boolean(b) => *b,
        Yaml::Null | Yaml::BadValue => false,
        Yaml::String(s) if s.eq_ignore_ascii_case("true") => true,
        Yaml::String(s) if s.eq_ignore_ascii_case("false") => false,
        _ => return Err(format!("accounts[{index}] ({ak}): admin must be true or false")),
    };
    let default = |key: &str| text(&y[key]).and_then(|s| Perm::parse(&s)).unwrap_or(Perm::DENY);
    let (mut topics, mut groups) = (HashMap::default(), HashMap::default());
    resource_perms(&y["topicPerms"], &format!("accounts[{index}].topicPerms"), &mut topics)?;
    resource_perms(&y["groupPerms"], &format!("accounts[{index}].groupPerms"), &mut groups)?;
    Ok(Account {
        access_key: ak,
        signing_key: SigningKey::new(sk.as_bytes()),
        secret_key: sk,
        white_remote_address: white,
        admin,
        default_topic_perm: default("defaultTopicPerm"),
        default_group_perm: default("defaultGroupPerm"),
        topics,
        groups,
    })
}

impl PlainAcl {
    /// Parse and validate the text of a `plain_acl.yml`.
    pub fn parse(src: &str) -> Result<PlainAcl, String> {
        if src.len() > MAX_FILE_BYTES {
            return Err(format!("file is larger than {MAX_FILE_BYTES} bytes"));
        }
        let docs = YamlLoader::load_from_str(src).map_err(|e| format!("not valid YAML: {e}"))?;
        let doc = match docs.into_iter().next() {
            None | Some(Yaml::Null) => return Ok(PlainAcl::default()),
            Some(d @ Yaml::Hash(_)) => d,
            Some(_) => return Err("the top level must be a mapping".into()),
        };
        let mut acl = PlainAcl::default();
        for p in list(&doc["globalWhiteRemoteAddresses"], "globalWhiteRemoteAddresses")? {
            let s = text(p).ok_or("globalWhiteRemoteAddresses: entries must be strings")?;
            acl.global_white.push(
                AddressPattern::parse(&s)
                    .map_err(|e| format!("globalWhiteRemoteAddresses: {e}"))?,
            );
        }
        for (i, a) in list(&doc["accounts"], "accounts")?.iter().enumerate() {
            let a = account(a, i)?;
            if acl.accounts.contains_key(&a.access_key) {
                return Err(format!("accessKey '{}' is defined twice", a.access_key));
            }
            acl.accounts.insert(a.access_key.clone(), a);
        }
        Ok(acl)
    }

    /// Does `ip` match `globalWhiteRemoteAddresses`?
    pub fn globally_white(&self, ip: std::net::IpAddr) -> bool {
        self.global_white.iter().any(|p| p.matches(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apache's sample `conf/plain_acl.yml` (4.9), re-typed.
    const SAMPLE: &str = r#"
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
"#;

    #[test]
    fn apache_sample() {
        let acl = PlainAcl::parse(SAMPLE).unwrap();
        assert!(acl.globally_white("10.10.103.7".parse().unwrap()));
        assert!(!acl.globally_white("127.0.0.1".parse().unwrap()));
        let a = &acl.accounts["RocketMQ"];
        assert_eq!(a.secret_key, "12345678");
        assert!(!a.admin);
        assert_eq!(a.perm_for(Resource::topic("topicA")), Perm::DENY);
        assert_eq!(a.perm_for(Resource::topic("topicB")), Perm::PUB_SUB);
        assert_eq!(a.perm_for(Resource::topic("other")), Perm::DENY);
        assert_eq!(a.perm_for(Resource::topic("%RETRY%groupA")), Perm::DENY);
        assert_eq!(a.perm_for(Resource::Group("groupC")), Perm::SUB);
        assert_eq!(a.perm_for(Resource::topic("%RETRY%other")), Perm::SUB);
        assert_eq!(Resource::topic("%RETRY%g").to_string(), "group:g");
        let b = &acl.accounts["rocketmq2"];
        assert!(b.admin && b.has_no_explicit_perms());
        assert!(b.white_remote_address.matches("192.168.1.9".parse().unwrap()));
        assert!(!format!("{b:?}").contains("12345678"), "Debug never shows a secret");
    }

    #[test]
    fn invalid_files_say_why() {
        let cases = [
            ("accounts:\n  - accessKey: short\n    secretKey: 12345678\n", "longer than 6"),
            ("accounts:\n  - accessKey: RocketMQ\n    secretKey: 123\n", "secretKey"),
            ("accounts:\n  - accessKey: RocketMQ\n", "secretKey"),
            (
                "accounts:\n  - accessKey: RocketMQ\n    secretKey: 12345678\n    topicPerms: [a=PUBSUB]\n",
                "permission must be",
            ),
            (
                "accounts:\n  - {accessKey: RocketMQ, secretKey: 12345678}\n  - {accessKey: RocketMQ, secretKey: 87654321}\n",
                "twice",
            ),
            ("globalWhiteRemoteAddresses: [nonsense]\n", "not an address pattern"),
            ("accounts: 3\n", "must be a list"),
            ("- a\n- b\n", "top level"),
            ("accounts: [\n", "YAML"),
        ];
        for (src, want) in cases {
            let e = PlainAcl::parse(src).unwrap_err();
            assert!(e.contains(want), "{src:?}: {e}");
        }
        assert_eq!(PlainAcl::parse("").unwrap(), PlainAcl::default());
    }
}
