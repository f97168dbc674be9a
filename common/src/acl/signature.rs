//! The ACL 1.0 request signature (docs/acl-protocol.md §3), client and server side.
//!
//! `Signature = Base64(HMAC-SHA1(secretKey, values of every ext field except Signature, in
//! key order, concatenated, then the body))`. [`ExtFields`] iterates in byte order of the
//! keys, which is Java's `String.compareTo` order for every key a client sends (ASCII), so the
//! server feeds the MAC straight from the decoded header: no content string is built and
//! nothing is allocated per request. Values are the text as received: the JSON decoder keeps
//! a number's literal digits and turns booleans into `true`/`false`, the canonical forms
//! ali-ons and the C++ client sign.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{KeyInit, Mac};

use crate::protocol::{ExtFields, RemotingCommand};

pub(crate) type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// A secret with HMAC's key schedule done once: each MAC starts from a clone of it. Keying
/// costs more than the MAC of a 1 KiB request itself (common/benches/acl.rs: 2.7 µs keyed per
/// call vs 0.85 µs prepared, same run), so servers keep one per account and clients one per
/// credential.
#[derive(Clone)]
pub struct SigningKey {
    mac: HmacSha1,
}

impl SigningKey {
    /// Prepare `secret` (any length).
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail.
        SigningKey { mac: <HmacSha1 as KeyInit>::new_from_slice(secret).expect("any key size") }
    }

    /// A MAC ready to take the signed content.
    pub(crate) fn mac(&self) -> HmacSha1 {
        self.mac.clone()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(****)")
    }
}

/// Same key: the MACs of the empty message agree (the state itself is opaque).
impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.mac().finalize().into_bytes() == other.mac().finalize().into_bytes()
    }
}

impl Eq for SigningKey {}

/// Ext field carrying the access key.
pub const ACCESS_KEY: &str = "AccessKey";
/// Ext field carrying the Base64 signature.
pub const SIGNATURE: &str = "Signature";
/// Optional ext field carrying an STS token (signed like any other field).
pub const SECURITY_TOKEN: &str = "SecurityToken";
/// Field added by QUERY_MESSAGE by unique key outside the typed header: Java clients before
/// 4.9.4 did not sign it (see [`verify`]).
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

/// An access key and its secret, as a client signs with them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key (`AccessKey` ext field).
    pub access_key: String,
    /// The secret (HMAC key); never sent.
    pub secret_key: String,
    /// The secret, prepared (one clone per signed request).
    key: SigningKey,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line.
        write!(f, "Credentials({}, ****)", self.access_key)
    }
}

impl Credentials {
    /// Credentials from an access key and a secret.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        let secret_key = secret_key.into();
        let key = SigningKey::new(secret_key.as_bytes());
        Credentials { access_key: access_key.into(), secret_key, key }
    }

    /// Both keys from the environment variables `ak_var` / `sk_var` when both are set and
    /// not blank (e.g. `RMQ_ACCESS_KEY` / `RMQ_SECRET_KEY`).
    pub fn from_env(ak_var: &str, sk_var: &str) -> Option<Self> {
        let ak = std::env::var(ak_var).ok().filter(|s| !s.trim().is_empty())?;
        let sk = std::env::var(sk_var).ok().filter(|s| !s.trim().is_empty())?;
        Some(Credentials::new(ak.trim(), sk.trim()))
    }

    /// From optional parts: both present and not blank, or none.
    pub fn from_parts(ak: Option<&str>, sk: Option<&str>) -> Option<Self> {
        match (ak.map(str::trim), sk.map(str::trim)) {
            (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => Some(Credentials::new(a, s)),
            _ => None,
        }
    }

    /// Sign `cmd` as Java's `AclClientRPCHook` does: set `AccessKey`, drop any old
    /// `Signature`, sign every other ext field plus the body, add `Signature`.
    pub fn sign(&self, cmd: &mut RemotingCommand) {
        cmd.ext_fields.remove(SIGNATURE);
        // Both fields in one growth of the header text (else up to two reallocations, each
        // copying the whole header: the profile's memcpy under `sign`).
        cmd.ext_fields.reserve(
            2,
            ACCESS_KEY.len() + self.access_key.len() + SIGNATURE.len() + SIGNATURE_B64_LEN,
        );
        cmd.ext_fields.insert_str(ACCESS_KEY, &self.access_key);
        let mac = mac_over(&self.key, &cmd.ext_fields, &cmd.body, false).finalize().into_bytes();
        // Base64 into a stack array, then into the header's buffer: no temporary string per
        // request, and `encode_slice` skips the chunked encoder `encode_string` goes through.
        let mut b64 = [0u8; SIGNATURE_B64_LEN];
        let n = STANDARD.encode_slice(mac, &mut b64).unwrap_or_default();
        let b64 = std::str::from_utf8(&b64[..n]).unwrap_or_default();
        cmd.ext_fields.insert_str(SIGNATURE, b64);
    }
}

/// Feed the signed content into a MAC: values in key order (skipping `Signature`, and
/// `_UNIQUE_KEY_QUERY` when `skip_unique_key`), then the body.
///
/// The values are gathered into one stack buffer first: a send carries ~14 short values, and
/// one `update` per value cost more than the copy (each goes through the block buffer's
/// bookkeeping; common/benches/acl.rs measures both in one run).
fn mac_over(key: &SigningKey, ext: &ExtFields, body: &[u8], skip_unique_key: bool) -> HmacSha1 {
    let mut mac = key.mac();
    let mut buf = [0u8; GATHER];
    let mut n = 0;
    for (k, v) in ext.iter() {
        if k == SIGNATURE || (skip_unique_key && k == UNIQUE_KEY_QUERY) {
            continue;
        }
        let v = v.as_bytes();
        if n + v.len() > GATHER {
            // Rare (long properties): flush what is gathered; a value longer than the
            // buffer goes in directly.
            mac.update(&buf[..n]);
            n = 0;
            if v.len() > GATHER {
                mac.update(v);
                continue;
            }
        }
        buf[n..n + v.len()].copy_from_slice(v);
        n += v.len();
    }
    mac.update(&buf[..n]);
    mac.update(body);
    mac
}

/// Length of a Base64 HMAC-SHA1 signature (20 bytes).
const SIGNATURE_B64_LEN: usize = 28;

/// Stack room for the signed header values (a SEND_MESSAGE_V2's are ~150 bytes).
const GATHER: usize = 512;

/// The Base64 signature of `ext` + `body` under `secret` (what a client sends).
pub fn signature(secret: &[u8], ext: &ExtFields, body: &[u8], skip_unique_key: bool) -> String {
    let key = SigningKey::new(secret);
    STANDARD.encode(mac_over(&key, ext, body, skip_unique_key).finalize().into_bytes())
}

/// The Base64 HMAC-SHA1 of a plain byte string (the spec's content-level vectors).
pub fn sign_content(secret: &[u8], content: &[u8]) -> String {
    let mut mac = SigningKey::new(secret).mac();
    mac.update(content);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Check the `Signature` a request carries against `secret`, in constant time.
///
/// When the request has `_UNIQUE_KEY_QUERY`, both forms are accepted: Java clients before
/// 4.9.4 signed only declared header fields (without it), later ones sign every ext field
/// (with it); brokers differ by version (docs/acl-protocol.md §3), accepting either is the
/// tolerant rule.
pub fn verify(secret: &[u8], ext: &ExtFields, body: &[u8]) -> bool {
    verify_with(&SigningKey::new(secret), ext, body)
}

/// [`verify`] with a prepared key (what a server keeps per account).
pub fn verify_with(key: &SigningKey, ext: &ExtFields, body: &[u8]) -> bool {
    let Some(sent) = ext.get(SIGNATURE) else { return false };
    let mut raw = [0u8; 20];
    // A valid HMAC-SHA1 signature is exactly 20 bytes (28 Base64 characters).
    match STANDARD.decode_slice(sent.trim().as_bytes(), &mut raw) {
        Ok(20) => {}
        _ => return false,
    }
    if ext.contains_key(UNIQUE_KEY_QUERY)
        && mac_over(key, ext, body, true).verify_slice(&raw).is_ok()
    {
        return true;
    }
    mac_over(key, ext, body, false).verify_slice(&raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().copied().collect()
    }

    /// The vectors of docs/acl-protocol.md §4, content level.
    #[test]
    fn content_vectors() {
        assert_eq!(sign_content(b"12345678", b"RocketMQ"), "IUc8rrO/0gDch8CjObLQsW2rsiA=");
        assert_eq!(
            sign_content(b"12345678", b"abcbrokerName-11170367864413300topic-test"),
            "fx0a8MsoA7FiPWNBU/gbuJZrue4="
        );
        assert_eq!(sign_content(b"12345678", b"RocketMQTopicTest"), "0jiwhsaYp5ObE5GObbZH1I8/FT4=");
    }

    /// SEND_MESSAGE header fields of Apache's `DefaultAuthenticationContextBuilderTest.build2`:
    /// the signed content is the values in key order (AccessKey, bname, bornTimestamp, flag,
    /// queueId, topic).
    #[test]
    fn send_message_header_order() {
        let e = ext(&[
            ("topic", "topic-test"),
            ("queueId", "0"),
            ("bornTimestamp", "117036786441330"),
            ("bname", "brokerName-1"),
            ("flag", "0"),
            ("AccessKey", "abc"),
        ]);
        assert_eq!(
            signature(b"12345678", &e, b"", false),
            sign_content(b"12345678", b"abcbrokerName-111703678644133000topic-test")
        );
    }

    #[test]
    fn ext_vector_without_body() {
        let mut cmd = RemotingCommand::request(10).with_ext("topic", "TopicTest");
        Credentials::new("RocketMQ", "12345678").sign(&mut cmd);
        assert_eq!(cmd.ext(SIGNATURE), Some("0jiwhsaYp5ObE5GObbZH1I8/FT4="));
        assert!(verify(b"12345678", &cmd.ext_fields, &cmd.body));
        assert!(!verify(b"12345679", &cmd.ext_fields, &cmd.body));
    }

    /// Java-style SEND_MESSAGE_V2 with string values and a body.
    #[test]
    fn java_send_v2_vector() {
        let e = ext(&[
            ("a", "PG"),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "1"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", "UNIQ_KEY\u{1}0A0000\u{2}WAIT\u{1}true\u{2}"),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
            ("AccessKey", "RocketMQ"),
        ]);
        assert_eq!(signature(b"12345678", &e, b"Hello", false), "HANn1ajuXeKIlN7hZAw29Z2m0Vs=");
    }

    /// ali-ons sends numbers and booleans as JSON literals and signs their text; the frame
    /// decoder must hand the verifier exactly that text.
    #[test]
    fn ali_ons_json_typed_vector_through_the_decoder() {
        let header = r#"{"code":310,"language":"JAVA","version":0,"opaque":1,"flag":0,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":4,"e":1,"f":0,"g":1700000000000,"h":0,"i":"","j":0,"k":false,"AccessKey":"ak","OnsChannel":"ALIYUN","Signature":"iEIus26az6wt21CXNt7o8/kzanE="}}"#;
        let cmd = crate::protocol::json_header::decode(header.as_bytes()).unwrap();
        assert!(verify(b"sk", &cmd.ext_fields, b"Hello"));
        assert!(!verify(b"sk", &cmd.ext_fields, b"Hellp"));
    }

    #[test]
    fn unique_key_query_signed_either_way() {
        let creds = Credentials::new("RocketMQ", "12345678");
        let base = RemotingCommand::request(12).with_ext("topic", "T").with_ext("key", "k");
        // 4.9.4+: signed with the field.
        let mut new = base.clone().with_ext(UNIQUE_KEY_QUERY, "true");
        creds.sign(&mut new);
        assert!(verify(b"12345678", &new.ext_fields, b""));
        // Before 4.9.4: signed without it, field added afterwards.
        let mut old = base.clone();
        creds.sign(&mut old);
        old.ext_fields.insert_str(UNIQUE_KEY_QUERY, "true");
        assert!(verify(b"12345678", &old.ext_fields, b""));
    }

    #[test]
    fn malformed_signatures_fail_closed() {
        for sig in
            ["", "abc", "!!!!", "IUc8rrO/0gDch8CjObLQsW2rsiA", "IUc8rrO/0gDch8CjObLQsW2rsiAA"]
        {
            let e = ext(&[("AccessKey", "RocketMQ"), ("Signature", sig)]);
            assert!(!verify(b"12345678", &e, b""), "{sig}");
        }
        assert!(!verify(b"12345678", &ext(&[("AccessKey", "RocketMQ")]), b""));
    }

    /// The gathered header values give the MAC the same bytes as the plain concatenation,
    /// whether they fit the stack buffer, overflow it, or one value alone is larger.
    #[test]
    fn gathered_values_sign_the_concatenation() {
        let long = "p".repeat(GATHER + 37);
        let near = "q".repeat(GATHER - 3);
        for values in [vec!["x"; 3], vec![near.as_str(), "abcd", "e"], vec!["a", &long, "b", &near]]
        {
            let keys = ["k0", "k1", "k2", "k3"];
            let e: ExtFields = keys.iter().zip(&values).map(|(k, v)| (*k, *v)).collect();
            let content: Vec<u8> =
                values.iter().flat_map(|v| v.bytes()).chain(b"body".iter().copied()).collect();
            assert_eq!(
                signature(b"secret1", &e, b"body", false),
                sign_content(b"secret1", &content)
            );
        }
    }

    #[test]
    fn resigning_replaces_the_old_signature() {
        let c = Credentials::new("RocketMQ", "12345678");
        let mut cmd = RemotingCommand::request(10).with_ext("topic", "TopicTest");
        c.sign(&mut cmd);
        c.sign(&mut cmd);
        assert_eq!(cmd.ext(SIGNATURE), Some("0jiwhsaYp5ObE5GObbZH1I8/FT4="));
        assert_eq!(format!("{c:?}"), "Credentials(RocketMQ, ****)");
    }
}
