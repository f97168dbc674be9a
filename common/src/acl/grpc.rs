//! The 5.x gRPC endpoint's `authorization` header (`MQv2-HMAC-SHA1`, docs/acl-protocol.md §11),
//! checked against the same `plain_acl.yml` accounts as remoting requests.
//!
//! The broker's gRPC endpoint calls [`AclValidator::authenticate_grpc`] once per request
//! (with the two header values) and [`AclValidator::authorize_grpc`] for each topic or group
//! the request touches; this module has no gRPC dependency so it lives here, beside the
//! remoting check, over the same accounts and reload.

use std::net::IpAddr;
use std::sync::Arc;

use hmac::Mac;

use super::perm::Perm;
use super::plain::{Account, PlainAcl, Resource};
use super::validator::{AclDenied, AclValidator};

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
    signed_account(acl, authorization, date_time).map(|_| ())
}

/// The account whose valid signature the headers carry.
fn signed_account<'a>(
    acl: &'a PlainAcl,
    authorization: Option<&str>,
    date_time: Option<&str>,
) -> Result<&'a Account, AclDenied> {
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
    let mut mac = account.signing_key.mac();
    mac.update(date.as_bytes());
    mac.verify_slice(&sent).map_err(|_| {
        AclDenied(format!("Check signature failed for accessKey={}", auth.access_key))
    })?;
    Ok(account)
}

/// Who sent an authenticated gRPC request, and so what it may touch.
#[derive(Debug, Clone)]
pub enum GrpcCaller {
    /// A white-listed address (global or the account's own) or an admin account without
    /// explicit permission lists: every resource, as in the remoting check.
    Trusted,
    /// A signed account, checked per resource against the file version it was signed under.
    Account {
        /// The accounts in force when the request arrived (one version per request).
        acl: Arc<PlainAcl>,
        /// The caller's access key.
        access_key: String,
    },
}

impl AclValidator {
    /// Authenticate a gRPC request from `ip` by its `authorization` and `x-mq-date-time`
    /// headers, in the remoting order (docs/acl-protocol.md §5): global white list, then the
    /// key, the account's white list, the signature.
    pub fn authenticate_grpc(
        &self,
        ip: IpAddr,
        authorization: Option<&str>,
        date_time: Option<&str>,
    ) -> Result<GrpcCaller, AclDenied> {
        let acl = self.current();
        if acl.globally_white(ip) {
            return Ok(GrpcCaller::Trusted);
        }
        // The account's white list skips the signature: look the key up before verifying.
        if let Some(auth) = authorization.and_then(parse_grpc_authorization) {
            if let Some(a) = acl.accounts.get(auth.access_key) {
                if a.white_remote_address.matches(ip) {
                    return Ok(GrpcCaller::Trusted);
                }
            }
        }
        let account = signed_account(&acl, authorization, date_time)?;
        if account.admin && account.has_no_explicit_perms() {
            return Ok(GrpcCaller::Trusted);
        }
        let access_key = account.access_key.clone();
        Ok(GrpcCaller::Account { acl, access_key })
    }

    /// May `caller` use `resource` with permission `needed`? PUB on the message-trace topic
    /// is always allowed (Java's exemption), and a `%RETRY%` topic is its group.
    pub fn authorize_grpc(
        &self,
        caller: &GrpcCaller,
        resource: Resource<'_>,
        needed: Perm,
    ) -> Result<(), AclDenied> {
        let GrpcCaller::Account { acl, access_key } = caller else { return Ok(()) };
        if needed == Perm::PUB && resource == Resource::Topic(self.trace_topic()) {
            return Ok(());
        }
        // The account was present when authenticated and `acl` is that same version.
        let allowed =
            acl.accounts.get(access_key).is_some_and(|a| a.perm_for(resource).allows(needed));
        if allowed {
            Ok(())
        } else {
            Err(AclDenied(format!("No default permission for {resource}")))
        }
    }
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

    #[test]
    fn caller_order_and_resources() {
        use arc_swap::ArcSwap;
        let acl = PlainAcl::parse(
            "globalWhiteRemoteAddresses: [10.9.9.*]\naccounts:\n  - {accessKey: RocketMQ, secretKey: '12345678', defaultTopicPerm: DENY, defaultGroupPerm: SUB, topicPerms: [T1=PUB, T2=SUB]}\n  - {accessKey: adminAcc, secretKey: '12345678', admin: true}\n",
        )
        .unwrap();
        let v = AclValidator::new(
            super::super::Role::Broker,
            Arc::new(ArcSwap::from_pointee(acl)),
            "RMQ_SYS_TRACE_TOPIC",
        );
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let date = Some("20240101T000000Z");
        let h = "MQv2-HMAC-SHA1 Credential=RocketMQ, SignedHeaders=x-mq-date-time, Signature=c6fc09021280e20533c17364f135c0e3217d83e9";
        let c = v.authenticate_grpc(local, Some(h), date).unwrap();
        assert!(matches!(c, GrpcCaller::Account { .. }));
        v.authorize_grpc(&c, Resource::topic("T1"), Perm::PUB).unwrap();
        v.authorize_grpc(&c, Resource::topic("T1"), Perm::ANY).unwrap();
        assert_eq!(
            v.authorize_grpc(&c, Resource::topic("T2"), Perm::PUB).unwrap_err().0,
            "No default permission for topic:T2"
        );
        v.authorize_grpc(&c, Resource::topic("RMQ_SYS_TRACE_TOPIC"), Perm::PUB).unwrap();
        v.authorize_grpc(&c, Resource::Group("G"), Perm::SUB).unwrap();
        assert!(v.authorize_grpc(&c, Resource::topic("Other"), Perm::SUB).is_err());
        // Unsigned: refused, unless the address is globally white.
        assert!(v.authenticate_grpc(local, None, None).is_err());
        let white: IpAddr = "10.9.9.3".parse().unwrap();
        assert!(matches!(v.authenticate_grpc(white, None, None).unwrap(), GrpcCaller::Trusted));
        // An admin without explicit lists may touch anything.
        let a = h.replace("RocketMQ", "adminAcc");
        assert!(matches!(v.authenticate_grpc(local, Some(&a), date).unwrap(), GrpcCaller::Trusted));
    }
}
