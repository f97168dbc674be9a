//! HS256 JSON Web Tokens carrying the chat claims (design §3), and their scope rules.
//!
//! Implemented directly on `hmac`/`sha2` (a JWT is three base64url parts and one MAC) so the
//! services need no heavyweight crypto stack. Only `HS256` is accepted: a token naming any
//! other algorithm (notably `none`) is refused before its MAC is even looked at.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids::{validate_uid, Room};

/// The claims of a chat token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Display name (defaults to `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Audience; must contain the configured audience (`chat`).
    #[serde(default)]
    pub aud: Audience,
    /// Issued at (s since the epoch).
    #[serde(default)]
    pub iat: i64,
    /// Expiry (s since the epoch).
    pub exp: i64,
    /// Scopes such as `chat.write:r_general`, `chat.read:r_team-*`, `chat.write:d_*`.
    #[serde(default)]
    pub scope: Vec<String>,
    /// Roles: `admin` may post to any room (blocks still apply), `bot`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `aud` is a string or a list of strings in JWTs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// No audience.
    #[default]
    None,
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, a: &str) -> bool {
        match self {
            Audience::None => false,
            Audience::One(x) => x == a,
            Audience::Many(v) => v.iter().any(|x| x == a),
        }
    }
}

/// Why a token was refused. The Display strings are the DDP error reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON, wrong algorithm, bad MAC, bad audience or subject.
    #[error("invalid-token")]
    Invalid,
    /// Past `exp`.
    #[error("token-expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("hmac accepts any key length")
}

/// Sign `claims` as an HS256 JWT.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Verify an HS256 JWT: MAC, audience, a valid `sub`, and `exp > now_s - leeway_s`.
pub fn verify(
    token: &str,
    secret: &[u8],
    audience: &str,
    now_s: i64,
    leeway_s: i64,
) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Invalid);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Invalid)?;
    if header.alg != "HS256" {
        return Err(JwtError::Invalid);
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Invalid)?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    // verify_slice compares in constant time.
    m.verify_slice(&sig).map_err(|_| JwtError::Invalid)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Invalid)?;
    if !claims.aud.contains(audience) || validate_uid(&claims.sub).is_err() {
        return Err(JwtError::Invalid);
    }
    if claims.exp <= now_s - leeway_s {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

/// Whether `pattern` (a literal or a prefix ending in `*`) matches `rid`.
fn glob(pattern: &str, rid: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => rid.starts_with(prefix),
        None => pattern == rid,
    }
}

impl Claims {
    /// Claims for `sub` valid for `ttl_s` seconds from `now_s`.
    pub fn new(sub: &str, audience: &str, now_s: i64, ttl_s: i64, scope: Vec<String>) -> Claims {
        Claims {
            sub: sub.into(),
            name: None,
            aud: Audience::One(audience.into()),
            iat: now_s,
            exp: now_s + ttl_s,
            scope,
            roles: vec!["user".into()],
        }
    }

    /// The scopes of an ordinary user: every `r_` room and DMs.
    pub fn default_user_scopes() -> Vec<String> {
        vec!["chat.read:r_*".into(), "chat.write:r_*".into(), "chat.write:d_*".into()]
    }

    /// Whether the token has the role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    fn scope_matches(&self, action: &str, rid: &str) -> bool {
        self.scope.iter().any(|s| {
            s.strip_prefix(action)
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|pat| glob(pat, rid))
        })
    }

    /// May this user post to `rid`? DMs need `chat.write` on the rid and being a party; rooms need
    /// `chat.write` or the `admin` role.
    pub fn can_write(&self, rid: &str) -> bool {
        match Room::parse(rid) {
            Ok(r @ Room::Direct(..)) => {
                r.is_party(&self.sub) && self.scope_matches("chat.write", rid)
            }
            Ok(Room::Named(_)) => self.has_role("admin") || self.scope_matches("chat.write", rid),
            Err(_) => false,
        }
    }

    /// May this user read `rid`? Like [`Self::can_write`], with `chat.read`; write implies read.
    pub fn can_read(&self, rid: &str) -> bool {
        let scoped = self.scope_matches("chat.read", rid) || self.scope_matches("chat.write", rid);
        match Room::parse(rid) {
            Ok(r @ Room::Direct(..)) => r.is_party(&self.sub) && scoped,
            Ok(Room::Named(_)) => self.has_role("admin") || scoped,
            Err(_) => false,
        }
    }

    /// The display name: `name`, else `sub`.
    pub fn username(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"secret";

    fn alice() -> Claims {
        Claims::new("alice", "chat", 1000, 3600, Claims::default_user_scopes())
    }

    #[test]
    fn round_trip() {
        let t = sign(&alice(), KEY);
        assert_eq!(verify(&t, KEY, "chat", 1000, 0).unwrap(), alice());
    }

    #[test]
    fn refusals() {
        let t = sign(&alice(), KEY);
        assert_eq!(verify(&t, b"other", "chat", 1000, 0), Err(JwtError::Invalid));
        assert_eq!(verify(&t, KEY, "other-aud", 1000, 0), Err(JwtError::Invalid));
        assert_eq!(verify(&t, KEY, "chat", 5000, 0), Err(JwtError::Expired));
        assert!(verify(&t, KEY, "chat", 4610, 20).is_ok(), "leeway");
        assert_eq!(verify("a.b", KEY, "chat", 1000, 0), Err(JwtError::Invalid));
        assert_eq!(verify("", KEY, "chat", 1000, 0), Err(JwtError::Invalid));
        // Tampered payload: swap in bob's claims under alice's signature.
        let bob = sign(&Claims::new("bob", "chat", 1000, 3600, vec![]), KEY);
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = bob.split('.').nth(1).unwrap();
        assert_eq!(verify(&parts.join("."), KEY, "chat", 1000, 0), Err(JwtError::Invalid));
        // alg=none is refused even with an empty signature.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            t.split('.').nth(1).unwrap()
        );
        assert_eq!(verify(&none, KEY, "chat", 1000, 0), Err(JwtError::Invalid));
    }

    #[test]
    fn scopes() {
        let a = alice();
        assert!(a.can_write("r_general") && a.can_read("r_general"));
        assert!(a.can_write("d_alice_bob") && a.can_read("d_alice_bob"));
        assert!(!a.can_write("d_bob_carol") && !a.can_read("d_bob_carol"));
        let mut narrow = Claims::new("bob", "chat", 0, 10, vec!["chat.read:r_team-*".into()]);
        assert!(narrow.can_read("r_team-x") && !narrow.can_write("r_team-x"));
        assert!(!narrow.can_read("r_general") && !narrow.can_write("d_alice_bob"));
        narrow.roles.push("admin".into());
        assert!(narrow.can_write("r_general"));
        assert!(!narrow.can_write("d_alice_carol"), "admin is not a DM party");
        assert_eq!(a.username(), "alice");
    }

    #[test]
    fn audience_list() {
        let mut c = alice();
        c.aud = Audience::Many(vec!["x".into(), "chat".into()]);
        assert!(verify(&sign(&c, KEY), KEY, "chat", 1000, 0).is_ok());
    }
}
