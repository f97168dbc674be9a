//! ACL on the gRPC endpoint: every RPC is authenticated by its `authorization` /
//! `x-mq-date-time` headers (5.x `MQv2-HMAC-SHA1`, docs/acl-protocol.md §11) against the same
//! `plain_acl.yml` accounts as remoting, then each topic and group it names is checked like
//! the remoting request that does the same thing (`docs/security.md`). A refusal is the
//! response's UNAUTHORIZED status (Apache's proxy maps ACL failures to it) and the handler
//! never runs, so nothing changes. With `aclEnable=false` nothing is checked and the header is
//! ignored (the Python SDK always sends one, signed with an empty key).

use std::net::SocketAddr;

use mq_common::acl::{GrpcCaller, Perm, Resource as AclResource};
use mq_grpc_proto::v2::*;
use tonic::Request;

use super::status::status;
use super::{meta, GrpcService};

/// The topics and groups a request touches, with the permission each needs.
pub(crate) trait Touches {
    /// Call `f` for each (resource, permission), stopping at the first error.
    fn touches<E>(&self, f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>) -> Result<(), E>;
}

fn name(r: &Option<Resource>) -> Option<&str> {
    r.as_ref().map(|r| r.name.as_str()).filter(|n| !n.is_empty())
}

/// `(topic, group)` both SUB: the shape of every consume-side request.
fn topic_group_sub<E>(
    topic: Option<&str>,
    group: Option<&str>,
    mut f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(g) = group {
        f(AclResource::Group(g), Perm::SUB)?;
    }
    if let Some(t) = topic {
        f(AclResource::topic(t), Perm::SUB)?;
    }
    Ok(())
}

macro_rules! touches_topic_group {
    ($($t:ty),*) => {$(
        impl Touches for $t {
            fn touches<E>(&self, f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>) -> Result<(), E> {
                topic_group_sub(name(&self.topic), name(&self.group), f)
            }
        }
    )*};
}
touches_topic_group!(
    QueryAssignmentRequest,
    AckMessageRequest,
    ForwardMessageToDeadLetterQueueRequest,
    ChangeInvisibleDurationRequest
);

macro_rules! touches_group {
    ($($t:ty),*) => {$(
        impl Touches for $t {
            fn touches<E>(&self, mut f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>) -> Result<(), E> {
                match name(&self.group) {
                    Some(g) => f(AclResource::Group(g), Perm::SUB),
                    None => Ok(()),
                }
            }
        }
    )*};
}
touches_group!(HeartbeatRequest, NotifyClientTerminationRequest);

macro_rules! touches_nothing {
    ($($t:ty),*) => {$(
        impl Touches for $t {
            fn touches<E>(&self, _f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>) -> Result<(), E> {
                Ok(())
            }
        }
    )*};
}
// Not implemented by the endpoint (they answer NOT_IMPLEMENTED): the signature is enough.
touches_nothing!(
    UpdateOffsetRequest,
    GetOffsetRequest,
    QueryOffsetRequest,
    RecallMessageRequest,
    SyncLiteSubscriptionRequest
);

impl Touches for QueryRouteRequest {
    /// A route is needed to produce or to consume: either permission will do (Java: ANY).
    fn touches<E>(
        &self,
        mut f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>,
    ) -> Result<(), E> {
        match name(&self.topic) {
            Some(t) => f(AclResource::topic(t), Perm::ANY),
            None => Ok(()),
        }
    }
}

impl Touches for SendMessageRequest {
    fn touches<E>(
        &self,
        mut f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>,
    ) -> Result<(), E> {
        for m in &self.messages {
            if let Some(t) = name(&m.topic) {
                let res = AclResource::topic(t);
                // A send to `%RETRY%g` needs SUB on g, as over remoting.
                let perm = if matches!(res, AclResource::Group(_)) { Perm::SUB } else { Perm::PUB };
                f(res, perm)?;
            }
        }
        Ok(())
    }
}

impl Touches for EndTransactionRequest {
    fn touches<E>(
        &self,
        mut f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>,
    ) -> Result<(), E> {
        match name(&self.topic) {
            Some(t) => f(AclResource::topic(t), Perm::PUB),
            None => Ok(()),
        }
    }
}

impl Touches for ReceiveMessageRequest {
    fn touches<E>(&self, f: impl FnMut(AclResource<'_>, Perm) -> Result<(), E>) -> Result<(), E> {
        let topic = self.message_queue.as_ref().and_then(|q| name(&q.topic));
        topic_group_sub(topic, name(&self.group), f)
    }
}

impl GrpcService {
    /// Authenticate `req` (ACL off: everyone is trusted). `Err` is the UNAUTHORIZED status.
    pub(crate) fn caller<T>(&self, req: &Request<T>) -> Result<GrpcCaller, Option<Status>> {
        let Some(acl) = &self.acl else { return Ok(GrpcCaller::Trusted) };
        let ip = req.remote_addr().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))).ip();
        let header = |k| Some(meta(req, k)).filter(|v| !v.is_empty());
        acl.authenticate_grpc(ip, header("authorization"), header("x-mq-date-time")).map_err(|e| {
            tracing::debug!(%ip, reason = %e, "gRPC request refused by ACL");
            status(Code::Unauthorized, e.0)
        })
    }

    /// Check every resource `inner` touches for `caller`. `Err` is the UNAUTHORIZED status.
    pub(crate) fn authorize(
        &self,
        caller: &GrpcCaller,
        inner: &impl Touches,
    ) -> Result<(), Option<Status>> {
        let Some(acl) = &self.acl else { return Ok(()) };
        if matches!(caller, GrpcCaller::Trusted) {
            return Ok(());
        }
        inner.touches(|res, perm| acl.authorize_grpc(caller, res, perm)).map_err(|e| {
            tracing::debug!(reason = %e, "gRPC request refused by ACL");
            status(Code::Unauthorized, e.0)
        })
    }
}
