//! Login for write operations: one `admin` account, PBKDF2-SHA256 password hash, and a session
//! token signed with HMAC-SHA256 (sent as an HttpOnly SameSite=Strict cookie, or as
//! `Authorization: Bearer` for scripts).
//!
//! On first start, without `adminPassword` in the config, a random password is generated,
//! printed once, and only its hash is kept under `dataPath`. The signing key is kept there too so
//! sessions survive a restart.
//!
//! Each token names its session (a random id); logout revokes that session server-side: the
//! id is kept, with the token's expiry, in `dataPath/revoked-sessions` until the token would
//! have expired anyway, so a copied token stops working at once and stays revoked across
//! restarts (issue 16, B10).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use parking_lot::Mutex;
use rand::Rng;
use sha2::Sha256;

use crate::error::AppError;
use crate::state::AppState;

/// Cookie carrying the session token.
pub const COOKIE: &str = "rmq_session";
/// PBKDF2 rounds for new hashes.
pub const DEFAULT_ROUNDS: u32 = 100_000;
const HASH_FILE: &str = "admin-password.hash";
const KEY_FILE: &str = "session.key";
const REVOKED_FILE: &str = "revoked-sessions";

/// A stored password hash: `pbkdf2-sha256$rounds$salt$hash` (base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    rounds: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// Hash a password with a fresh salt.
    pub fn new(password: &str, rounds: u32) -> Self {
        let salt: [u8; 16] = rand::rng().random();
        let hash = derive(password, &salt, rounds);
        PasswordHash { rounds, salt: salt.to_vec(), hash }
    }

    /// Check a password (constant-time compare via HMAC verification of the derived key).
    pub fn verify(&self, password: &str) -> bool {
        let got = derive(password, &self.salt, self.rounds);
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.salt).expect("hmac accepts any key");
        mac.update(&got);
        let tag = mac.finalize().into_bytes();
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.salt).expect("hmac accepts any key");
        mac.update(&self.hash);
        mac.verify_slice(&tag).is_ok()
    }

    /// Text form.
    pub fn encode(&self) -> String {
        format!(
            "pbkdf2-sha256${}${}${}",
            self.rounds,
            B64.encode(&self.salt),
            B64.encode(&self.hash)
        )
    }

    /// Parse the text form.
    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.trim().split('$');
        if it.next()? != "pbkdf2-sha256" {
            return None;
        }
        let rounds = it.next()?.parse().ok()?;
        let salt = B64.decode(it.next()?).ok()?;
        let hash = B64.decode(it.next()?).ok()?;
        Some(PasswordHash { rounds, salt, hash })
    }
}

fn derive(password: &str, salt: &[u8], rounds: u32) -> Vec<u8> {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, rounds, &mut out);
    out.to_vec()
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Password check and session tokens.
pub struct Auth {
    hash: PasswordHash,
    key: Vec<u8>,
    ttl: Duration,
    reads_open: bool,
    revoked: Revoked,
}

/// Revoked session ids with the expiry of their token (after which the token is invalid
/// anyway and the entry is dropped), persisted when a path is set.
struct Revoked {
    ids: Mutex<HashMap<String, u64>>,
    path: Option<PathBuf>,
}

impl Revoked {
    fn in_memory() -> Self {
        Revoked { ids: Mutex::new(HashMap::new()), path: None }
    }

    /// Load `path` (lines `id exp`), dropping expired entries.
    fn load(path: PathBuf) -> Self {
        let now = now_secs();
        let ids = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(id, exp)| Some((id.to_string(), exp.trim().parse::<u64>().ok()?)))
            .filter(|(_, exp)| *exp > now)
            .collect();
        Revoked { ids: Mutex::new(ids), path: Some(path) }
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.lock().contains_key(id)
    }

    /// Add `id`; prune expired ids; rewrite the file (temp file + rename).
    fn add(&self, id: &str, exp: u64) -> std::io::Result<()> {
        let mut ids = self.ids.lock();
        let now = now_secs();
        ids.retain(|_, e| *e > now);
        ids.insert(id.to_string(), exp);
        let Some(path) = &self.path else { return Ok(()) };
        let text: String = ids.iter().map(|(id, exp)| format!("{id} {exp}\n")).collect();
        let tmp = path.with_extension("tmp");
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, path)
    }
}

/// A token's verified content.
struct Session {
    exp: u64,
    id: String,
}

/// What `Auth::load` found or created.
pub struct AuthSetup {
    /// The auth state.
    pub auth: Auth,
    /// A generated password to print once (first start without `adminPassword`).
    pub generated_password: Option<String>,
}

impl Auth {
    /// In-memory auth with a known password (tests).
    pub fn with_password(password: &str, rounds: u32, reads_open: bool) -> Self {
        let key: [u8; 32] = rand::rng().random();
        Auth {
            hash: PasswordHash::new(password, rounds),
            key: key.to_vec(),
            ttl: Duration::from_secs(3600),
            reads_open,
            revoked: Revoked::in_memory(),
        }
    }

    /// Load or create the password hash and the signing key under `data_path`.
    pub fn load(
        data_path: &Path,
        configured: Option<&str>,
        ttl: Duration,
        reads_open: bool,
    ) -> anyhow::Result<AuthSetup> {
        std::fs::create_dir_all(data_path)?;
        let key_path = data_path.join(KEY_FILE);
        let key = match std::fs::read(&key_path) {
            Ok(k) if k.len() >= 32 => k,
            _ => {
                let k: [u8; 32] = rand::rng().random();
                write_private(&key_path, &k)?;
                k.to_vec()
            }
        };
        let mut generated = None;
        let hash = match configured {
            Some(p) => PasswordHash::new(p, DEFAULT_ROUNDS),
            None => {
                let hash_path = data_path.join(HASH_FILE);
                match std::fs::read_to_string(&hash_path)
                    .ok()
                    .and_then(|s| PasswordHash::decode(&s))
                {
                    Some(h) => h,
                    None => {
                        let pw: String = rand::rng()
                            .sample_iter(rand::distr::Alphanumeric)
                            .take(16)
                            .map(char::from)
                            .collect();
                        let h = PasswordHash::new(&pw, DEFAULT_ROUNDS);
                        write_private(&hash_path, h.encode().as_bytes())?;
                        generated = Some(pw);
                        h
                    }
                }
            }
        };
        let revoked = Revoked::load(data_path.join(REVOKED_FILE));
        Ok(AuthSetup {
            auth: Auth { hash, key, ttl, reads_open, revoked },
            generated_password: generated,
        })
    }

    /// Reads allowed without a session.
    pub fn reads_open(&self) -> bool {
        self.reads_open
    }

    /// Check the password; returns a session token.
    pub fn login(&self, password: &str) -> Option<String> {
        self.hash.verify(password).then(|| self.issue(now_secs() + self.ttl.as_secs()))
    }

    /// Session lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn sign(&self, payload: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("hmac accepts any key");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for `admin` valid until `exp` (unix seconds), for a new session.
    pub fn issue(&self, exp: u64) -> String {
        let id: [u8; 16] = rand::rng().random();
        let payload = format!("admin:{exp}:{}", B64.encode(id));
        format!("{}.{}", B64.encode(&payload), B64.encode(self.sign(&payload)))
    }

    /// The session of a correctly signed, unexpired token (revoked or not).
    fn session(&self, token: &str) -> Option<Session> {
        let (p, s) = token.split_once('.')?;
        let (payload, sig) = (B64.decode(p).ok()?, B64.decode(s).ok()?);
        let payload = String::from_utf8(payload).ok()?;
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("hmac accepts any key");
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).ok()?;
        let (exp, id) = payload.strip_prefix("admin:")?.split_once(':')?;
        let exp = exp.parse::<u64>().ok().filter(|e| *e > now_secs())?;
        Some(Session { exp, id: id.to_string() })
    }

    /// Validate a token: signature, expiry, and its session not logged out.
    pub fn validate(&self, token: &str) -> bool {
        self.session(token).is_some_and(|s| !self.revoked.contains(&s.id))
    }

    /// Log out: revoke the token's session server-side (persisted). False if the token was
    /// not valid anyway.
    pub fn revoke(&self, token: &str) -> bool {
        let Some(s) = self.session(token) else { return false };
        if let Err(e) = self.revoked.add(&s.id, s.exp) {
            // Still revoked in memory; only a restart would forget it.
            tracing::error!(error = %e, "persisting the revoked session failed");
        }
        true
    }

    /// Whether the request carries a valid session.
    pub fn is_logged_in(&self, headers: &HeaderMap) -> bool {
        token_from(headers).is_some_and(|t| self.validate(&t))
    }
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(data)
}

/// The session token from the cookie or a bearer header.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(b.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Extractor that requires a logged-in admin (all write endpoints take it).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.auth.is_logged_in(&parts.headers) {
            Ok(Admin)
        } else {
            Err(AppError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_roundtrip_and_verify() {
        let h = PasswordHash::new("s3cret", 1000);
        assert!(h.verify("s3cret"));
        assert!(!h.verify("nope"));
        let d = PasswordHash::decode(&h.encode()).unwrap();
        assert!(d.verify("s3cret"));
    }

    #[test]
    fn tokens() {
        let a = Auth::with_password("pw", 1000, true);
        let t = a.login("pw").unwrap();
        assert!(a.validate(&t));
        assert!(a.login("bad").is_none());
        assert!(!a.validate(&a.issue(1)), "expired");
        let (p, _) = t.split_once('.').unwrap();
        assert!(!a.validate(&format!("{p}.AAAA")), "bad signature");
        let forged =
            format!("{}.{}", B64.encode("admin:99999999999:x"), t.split_once('.').unwrap().1);
        assert!(!a.validate(&forged));
        // Logout revokes this session only.
        let other = a.login("pw").unwrap();
        assert!(a.revoke(&t));
        assert!(!a.validate(&t));
        assert!(a.validate(&other));
        assert!(!a.revoke("garbage"));
    }

    #[test]
    fn revocation_survives_a_restart_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let s1 = Auth::load(dir.path(), Some("pw"), Duration::from_secs(60), true).unwrap();
        let t = s1.auth.login("pw").unwrap();
        let soon = s1.auth.issue(now_secs() + 2);
        assert!(s1.auth.revoke(&t) && s1.auth.revoke(&soon));
        let s2 = Auth::load(dir.path(), Some("pw"), Duration::from_secs(60), true).unwrap();
        assert!(!s2.auth.validate(&t), "still revoked after a restart");
        // Entries of expired tokens are pruned.
        std::fs::write(dir.path().join(REVOKED_FILE), "old 1\n").unwrap();
        let s3 = Auth::load(dir.path(), Some("pw"), Duration::from_secs(60), true).unwrap();
        assert!(s3.auth.revoked.ids.lock().is_empty());
    }

    #[test]
    fn load_generates_once() {
        let dir = tempfile::tempdir().unwrap();
        let s1 = Auth::load(dir.path(), None, Duration::from_secs(60), true).unwrap();
        let pw = s1.generated_password.clone().unwrap();
        let s2 = Auth::load(dir.path(), None, Duration::from_secs(60), true).unwrap();
        assert!(s2.generated_password.is_none());
        assert!(s2.auth.login(&pw).is_some());
        // Same key: a token from the first instance is valid in the second.
        assert!(s2.auth.validate(&s1.auth.login(&pw).unwrap()));
    }
}
