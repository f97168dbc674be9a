//! The 5.x gRPC endpoint's `authorization` header (`MQv2-HMAC-SHA1`, spec `grpc-5x.md` §12),
//! checked against the same `plain_acl.yml` accounts as remoting requests.
//!
//! The gRPC endpoint (branch `grpc`) calls [`check_grpc_authorization`] with the two header
//! values; this module has no gRPC dependency so it can live here, beside the remoting check.

use hmac::{KeyInit, Mac};

use super::plain::PlainAcl;
use super::validator::AclDenied;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// The parts of an `authorization: MQv2-HMAC-SHA1 Credential=..., SignedHeaders=...,
/// Signature=<hex>` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcAuthorization<'a> {
    /// The access key (`Credential`, the part before any `/`).
    pub access_key: &'a str,
    /// The hex signature.
    pub signature_hex: &'a str,
}

/// Parse the header as Apache's `DefaultAuthenticationContextBuilder`: split at the first
/// space, then at `,`, trim, split each at the first `=`.
pub fn parse_grpc_authorization(header: &str) -> Option<GrpcAuthorization<'_>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if scheme != "MQv2-HMAC-SHA1" {
        return None;
    }
    let (mut ak, mut sig) = (None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k.trim() {
            "Credential" => ak = Some(v.trim().split('/').next().unwrap_or_default()),
            "Signature" => sig = Some(v.trim()),
            _ => {}
        }
    }
    Some(GrpcAuthorization { access_key: ak?, signature_hex: sig? })
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Check a gRPC request's `authorization` and `x-mq-date-time` headers against `acl`
/// (signature = hex HMAC-SHA1 of the date-time value under the secret; case-insensitive hex;
/// the date is not compared with the clock, as Apache). `Err` holds the denial message.
pub fn check_grpc_authorization(
    acl: &PlainAcl,
    authorization: Option<&str>,
    date_time: Option<&str>,
) -> Result<(), AclDenied> {
    let header = authorization.ok_or_else(|| AclDenied("No accessKey is configured".into()))?;
    let auth = parse_grpc_authorization(header)
        .ok_or_else(|| AclDenied("authorization header is not MQv2-HMAC-SHA1".into()))?;
    let date = date_time.ok_or_else(|| AclDenied("x-mq-date-time header is missing".into()))?;
    let account = acl
        .accounts
        .get(auth.access_key)
        .ok_or_else(|| AclDenied(format!("No acl config for {}", auth.access_key)))?;
    let sent =
        hex_decode(auth.signature_hex).ok_or_else(|| AclDenied("signature is not hex".into()))?;
    let mut mac = <HmacSha1 as KeyInit>::new_from_slice(account.secret_key.as_bytes())
        .expect("HMAC takes any key size");
    mac.update(date.as_bytes());
    mac.verify_slice(&sent)
        .map_err(|_| AclDenied(format!("Check signature failed for accessKey={}", auth.access_key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector_and_parsing() {
        let acl = PlainAcl::parse("accounts:\n  - {accessKey: RocketMQ, secretKey: '12345678'}\n")
            .unwrap();
        let h = "MQv2-HMAC-SHA1 Credential=RocketMQ, SignedHeaders=x-mq-date-time, Signature=c6fc09021280e20533c17364f135c0e3217d83e9";
        check_grpc_authorization(&acl, Some(h), Some("20240101T000000Z")).unwrap();
        // Upper-case hex (Node) and a scoped credential.
        let upper = "MQv2-HMAC-SHA1 Credential=RocketMQ/x, SignedHeaders=x-mq-date-time, Signature=C6FC09021280E20533C17364F135C0E3217D83E9";
        check_grpc_authorization(&acl, Some(upper), Some("20240101T000000Z")).unwrap();
        let e = check_grpc_authorization(&acl, Some(h), Some("20240101T000001Z")).unwrap_err();
        assert_eq!(e.0, "Check signature failed for accessKey=RocketMQ");
        assert!(check_grpc_authorization(&acl, None, None).is_err());
        assert!(check_grpc_authorization(&acl, Some(h), None).is_err());
        assert!(check_grpc_authorization(&acl, Some("Basic abc"), Some("x")).is_err());
        let other = h.replace("RocketMQ", "Nobody12");
        assert_eq!(
            check_grpc_authorization(&acl, Some(&other), Some("x")).unwrap_err().0,
            "No acl config for Nobody12"
        );
    }
}
