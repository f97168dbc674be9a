//! [`AclValidator`]: the per-request check of ACL 1.0 (docs/acl-protocol.md §5 order, §6
//! table), for the broker and, beyond Java 4.x, the name server.
//!
//! The check runs on the connection's reader before dispatch. On the hot path (a signed
//! send) it costs one lock-free load of the current file, one hash lookup, one HMAC-SHA1 over
//! the header values and body, and one lookup per resource; it allocates nothing.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::perm::Perm;
use super::plain::{Account, PlainAcl, Resource};
use super::signature::{self, ACCESS_KEY};
use crate::protocol::body::{BatchAckMessageRequestBody, HeartbeatData};
use crate::protocol::codes::{request as rq, response};
use crate::protocol::{lenient_json, RemotingCommand};

/// Prefix of every denial remark: the text Java 4.x puts there (`AclException.toString()`),
/// which operators and tools grep for.
pub const DENIAL_PREFIX: &str = "org.apache.rocketmq.acl.common.AclException: ";

/// Which server checks: the request tables differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A broker: Java 4.9.7's table plus the stricter admin set ([`BROKER_ADMIN_CODES`]).
    Broker,
    /// A metadata server (name server, controller): the requests `admin` names need an admin
    /// account; every other one is open unless `check_reads` (then any valid signature will
    /// do). See [`Role::namesrv`] and [`Role::controller`].
    Metadata {
        /// Which requests need an admin account.
        admin: AdminCodes,
        /// Require a valid signature on the other requests too.
        check_reads: bool,
    },
}

/// Which requests of a metadata server need an admin account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCodes {
    /// These (the writes; everything else reads).
    Only(&'static [i32]),
    /// All but these (the reads; whatever else comes, an unknown code included, writes).
    AllBut(&'static [i32]),
}

impl Role {
    /// A name server: writes ([`NAMESRV_ADMIN_CODES`]) need an admin account.
    pub const fn namesrv(check_reads: bool) -> Role {
        Role::Metadata { admin: AdminCodes::Only(NAMESRV_ADMIN_CODES), check_reads }
    }

    /// A controller (`mqcontroller`, or one embedded in a name server): every request but
    /// the reads in [`CONTROLLER_READ_CODES`] needs an admin account, the Raft traffic
    /// between controllers included.
    pub const fn controller(check_reads: bool) -> Role {
        Role::Metadata { admin: AdminCodes::AllBut(CONTROLLER_READ_CODES), check_reads }
    }
}

/// Broker requests only an admin account may make when ACL is on. Java 4.9.7's set (17, 25,
/// 215, 200, 207) plus what else changes state or exposes all metadata: offset reset, file
/// deletion, ACL management, the slave metadata-sync reads and the broker config (it holds
/// the broker's own secret for the name servers).
pub const BROKER_ADMIN_CODES: &[i32] = &[
    rq::UPDATE_AND_CREATE_TOPIC,
    rq::UPDATE_BROKER_CONFIG,
    rq::GET_BROKER_CONFIG,
    rq::DELETE_TOPIC_IN_BROKER,
    rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    rq::DELETE_SUBSCRIPTIONGROUP,
    rq::INVOKE_BROKER_TO_RESET_OFFSET,
    rq::TRIGGER_DELETE_FILES,
    rq::GET_ALL_TOPIC_CONFIG,
    rq::GET_TOPIC_CONFIG_LIST,
    rq::GET_ALL_CONSUMER_OFFSET,
    rq::GET_ALL_DELAY_OFFSET,
    rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
    rq::UPDATE_AND_CREATE_ACL_CONFIG,
    rq::DELETE_ACL_CONFIG,
    rq::GET_BROKER_CLUSTER_ACL_INFO,
    rq::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
    rq::GET_BROKER_CLUSTER_ACL_CONFIG,
    // Controller mode (1007, newer than 4.9.7's table): the replica layout of a group.
    rq::GET_BROKER_EPOCH_CACHE,
];

/// Name-server requests that change routes or settings: admin only when ACL is on (Java 4.x
/// checks nothing on the name server; anyone could register a fake broker).
pub const NAMESRV_ADMIN_CODES: &[i32] = &[
    rq::REGISTER_BROKER,
    rq::UNREGISTER_BROKER,
    rq::BROKER_HEARTBEAT,
    rq::PUT_KV_CONFIG,
    rq::DELETE_KV_CONFIG,
    rq::DELETE_TOPIC_IN_NAMESRV,
    rq::REGISTER_TOPIC_IN_NAMESRV,
    rq::WIPE_WRITE_PERM_OF_BROKER,
    rq::ADD_WRITE_PERM_OF_BROKER,
    rq::UPDATE_NAMESRV_CONFIG,
    rq::GET_NAMESRV_CONFIG,
];

/// Controller requests that only read its state (who leads, a group's replicas and sync
/// state set, the next free broker id). Every other request to a controller, known or not,
/// changes state (registration, heartbeats, elections, the sync state set, Raft) and needs an
/// admin account when ACL is on: a forged heartbeat or election would move a group's master.
pub const CONTROLLER_READ_CODES: &[i32] = &[
    rq::CONTROLLER_GET_METADATA_INFO,
    rq::CONTROLLER_GET_REPLICA_INFO,
    rq::CONTROLLER_GET_SYNC_STATE_DATA,
    rq::CONTROLLER_GET_NEXT_BROKER_ID,
];

/// Why a request was refused: Java's message (without the prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclDenied(pub String);

impl AclDenied {
    /// The error response: SYSTEM_ERROR with `AclException: <message>`, as a Java 4.x broker
    /// answers (docs/acl-protocol.md §7).
    pub fn response(&self) -> RemotingCommand {
        RemotingCommand::error(response::SYSTEM_ERROR, format!("{DENIAL_PREFIX}{}", self.0))
    }
}

impl std::fmt::Display for AclDenied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Call `f` with every resource (and the permission it needs) that request `code` touches
/// (docs/acl-protocol.md §6), stopping at the first error. Sends by batch are checked like
/// single sends (Java 4.9.7 skipped code 320: any signed account could write to any topic by
/// batching).
fn for_each_resource<E>(
    req: &RemotingCommand,
    mut f: impl FnMut(Resource<'_>, Perm) -> Result<(), E>,
) -> Result<(), E> {
    let ext = |k: &str| req.ext(k).filter(|v| !v.is_empty());
    match req.code {
        rq::SEND_MESSAGE | rq::SEND_REPLY_MESSAGE => {
            if let Some(t) = ext("topic") {
                f(Resource::topic(t), pub_or_retry_sub(t))?;
            }
        }
        rq::SEND_MESSAGE_V2 | rq::SEND_REPLY_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE => {
            if let Some(t) = ext("b").or_else(|| ext("topic")) {
                f(Resource::topic(t), pub_or_retry_sub(t))?;
            }
        }
        rq::CONSUMER_SEND_MSG_BACK => {
            if let Some(g) = ext("group") {
                f(Resource::Group(g), Perm::SUB)?;
            }
        }
        // POP consumption reads (and acks for) a group like a pull does: Java's ACL 1.0 has
        // no entry for it, which would let any signed account drain any topic.
        // A committed offset is read like a pull reads (Java 4.x checks only the signature
        // of QUERY_CONSUMER_OFFSET; its 5.x ACL asks the same SUB as the update).
        rq::PULL_MESSAGE
        | rq::LITE_PULL_MESSAGE
        | rq::UPDATE_CONSUMER_OFFSET
        | rq::QUERY_CONSUMER_OFFSET
        | rq::POP_MESSAGE
        | rq::ACK_MESSAGE
        | rq::CHANGE_MESSAGE_INVISIBLETIME => {
            if let Some(t) = ext("topic") {
                f(Resource::topic(t), Perm::SUB)?;
            }
            if let Some(g) = ext("consumerGroup") {
                f(Resource::Group(g), Perm::SUB)?;
            }
        }
        // Reads of stored messages by key, id or position: the topic's SUB (Java 5.x asks
        // SUB or GET; an ACL 1.0 account has no GET, so SUB is its read permission). A
        // lookup by commit-log offset names no topic, or may name another one: the broker
        // checks the topic of the record it found too (`AclValidator::authorize_found`).
        // A queue's positions and times (max/min offset, offset by time, earliest store
        // time) tell what a topic holds and when: the topic's read permission too (Java 4.x:
        // signature only; a consumer has SUB on what it reads, and a retry topic's is its
        // group's).
        rq::QUERY_MESSAGE
        | rq::VIEW_MESSAGE_BY_ID
        | rq::SEARCH_OFFSET_BY_TIMESTAMP
        | rq::GET_MAX_OFFSET
        | rq::GET_MIN_OFFSET
        | rq::GET_EARLIEST_MSG_STORETIME => {
            if let Some(t) = ext("topic") {
                f(Resource::topic(t), Perm::SUB)?;
            }
        }
        rq::QUERY_CONSUME_QUEUE => {
            if let Some(t) = ext("topic") {
                f(Resource::topic(t), Perm::SUB)?;
            }
            if let Some(g) = ext("consumerGroup") {
                f(Resource::Group(g), Perm::SUB)?;
            }
        }
        rq::UNREGISTER_CLIENT | rq::GET_CONSUMER_LIST_BY_GROUP => {
            if let Some(g) = ext("consumerGroup") {
                f(Resource::Group(g), Perm::SUB)?;
            }
        }
        rq::HEART_BEAT => {
            // An unreadable body has no resources here; the heartbeat handler refuses it.
            if let Ok(hb) = lenient_json::from_slice::<HeartbeatData>(&req.body) {
                for c in &hb.consumer_data_set {
                    f(Resource::Group(&c.group_name), Perm::SUB)?;
                    for s in &c.subscription_data_set {
                        f(Resource::topic(&s.topic), Perm::SUB)?;
                    }
                }
            }
        }
        rq::BATCH_ACK_MESSAGE => {
            // An unreadable body has no resources here; the handler refuses it.
            if let Ok(b) = lenient_json::from_slice::<BatchAckMessageRequestBody>(&req.body) {
                for a in &b.acks {
                    f(Resource::topic(&a.topic), Perm::SUB)?;
                    f(Resource::Group(&a.consumer_group), Perm::SUB)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// What request `code` needs on a broker, as [`AclValidator::check`] decides it: for the
/// table of every request code in docs/security.md (generated and checked by a test).
/// Each resource is `(kind, where its name comes from, permission)`.
#[cfg(test)]
pub(crate) fn broker_resources(code: i32) -> Vec<(&'static str, &'static str, Perm)> {
    // One request carrying every name a request can take its resources from; each name says
    // where it came from.
    let mut req = RemotingCommand::request(code);
    for (k, v) in [("topic", "ext:topic"), ("b", "ext:b"), ("consumerGroup", "ext:consumerGroup")] {
        req.ext_fields.insert_str(k, v);
    }
    req.ext_fields.insert_str("group", "ext:group");
    req.body = bytes::Bytes::from_static(
        br#"{"consumerDataSet":[{"groupName":"body:group","subscriptionDataSet":[{"topic":"body:topic"}]}],
            "acks":[{"c":"body:group","t":"body:topic"}]}"#,
    );
    let mut out = Vec::new();
    let _ = for_each_resource(&req, |res, perm| {
        let (kind, from) = match res {
            Resource::Topic(t) => ("topic", t),
            Resource::Group(g) => ("group", g),
        };
        let from =
            ["ext:topic", "ext:b", "ext:consumerGroup", "ext:group", "body:group", "body:topic"]
                .into_iter()
                .find(|f| *f == from)
                .expect("a probe name");
        out.push((kind, from, perm));
        Ok::<(), ()>(())
    });
    out
}

/// A send to `%RETRY%<group>` needs SUB on the group (Java); any other topic PUB.
fn pub_or_retry_sub(topic: &str) -> Perm {
    match Resource::topic(topic) {
        Resource::Group(_) => Perm::SUB,
        Resource::Topic(_) => Perm::PUB,
    }
}

/// The ACL check of one server, over the current `plain_acl.yml` (swapped atomically on
/// reload, see [`super::AclFile`]).
pub struct AclValidator {
    role: Role,
    current: Arc<ArcSwap<PlainAcl>>,
    /// `msgTraceTopicName`: a request needing only PUB on it is let through (Java's
    /// message-trace exemption).
    trace_topic: String,
}

impl std::fmt::Debug for AclValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AclValidator({:?}, {} accounts)", self.role, self.current.load().accounts.len())
    }
}

impl AclValidator {
    /// A validator for `role` reading the accounts from `current`.
    pub fn new(role: Role, current: Arc<ArcSwap<PlainAcl>>, trace_topic: &str) -> Self {
        AclValidator { role, current, trace_topic: trace_topic.to_string() }
    }

    /// The accounts in force.
    pub fn current(&self) -> Arc<PlainAcl> {
        self.current.load_full()
    }

    /// `msgTraceTopicName`, exempt from PUB checks.
    pub fn trace_topic(&self) -> &str {
        &self.trace_topic
    }

    /// Check `req` from client address `ip`; `Err` holds Java's denial message.
    pub fn check(&self, req: &RemotingCommand, ip: IpAddr) -> Result<(), AclDenied> {
        let admin_code = match self.role {
            Role::Broker => BROKER_ADMIN_CODES.contains(&req.code),
            Role::Metadata { admin, check_reads } => {
                let write = match admin {
                    AdminCodes::Only(codes) => codes.contains(&req.code),
                    AdminCodes::AllBut(codes) => !codes.contains(&req.code),
                };
                if !write && !check_reads {
                    return Ok(());
                }
                write
            }
        };
        let acl = self.current.load();
        // 1-3. Global white list, then who is it?
        let Some((ak, account)) = identify(&acl, req, ip)? else { return Ok(()) };
        // 4. The account's own white list skips signature and permissions.
        if account.white_remote_address.matches(ip) {
            return Ok(());
        }
        // 5. Signature.
        if !signature::verify_with(&account.signing_key, &req.ext_fields, &req.body) {
            return Err(AclDenied(format!("Check signature failed for accessKey={ak}")));
        }
        if matches!(self.role, Role::Metadata { .. }) && !admin_code {
            return Ok(());
        }
        // 6. (Java checks the message-trace exemption here; see 8: a trace send is never an
        // admin code, so asking only when the resources refuse gives the same answers and
        // spares every other request the second walk over its resources.)
        // 7. Admin codes.
        if admin_code && !account.admin {
            return Err(AclDenied(format!(
                "Need admin permission for request code={}, but accessKey={ak} is not",
                req.code
            )));
        }
        // 8. Resources.
        if account.admin && account.has_no_explicit_perms() {
            return Ok(());
        }
        match for_each_resource(req, |res, needed| check_one(account, res, needed)) {
            // 6. Message-trace exemption: exactly PUB on the trace topic.
            Err(_) if self.is_trace_send(req) => Ok(()),
            r => r,
        }
    }

    /// The check of a message a request found by position rather than by name
    /// (VIEW_MESSAGE_BY_ID, CONSUMER_SEND_MSG_BACK and END_TRANSACTION look up a commit-log
    /// offset): may the caller of `req`, from `ip`, have `needed` on `topic`, the topic of
    /// the record actually found? Call it only for a request [`AclValidator::check`]
    /// admitted (the signature is not verified again); white lists and the admin without
    /// explicit lists pass as there, and a denial has the same message and response.
    pub fn authorize_found(
        &self,
        req: &RemotingCommand,
        ip: IpAddr,
        topic: &str,
        needed: Perm,
    ) -> Result<(), AclDenied> {
        let acl = self.current.load();
        // The file may have been reloaded since the check: the account can be gone.
        let Some((_, account)) = identify(&acl, req, ip)? else { return Ok(()) };
        if account.white_remote_address.matches(ip)
            || (account.admin && account.has_no_explicit_perms())
        {
            return Ok(());
        }
        check_one(account, Resource::topic(topic), needed)
    }

    fn is_trace_send(&self, req: &RemotingCommand) -> bool {
        let mut only_trace_pub = None;
        let _ = for_each_resource(req, |res, perm| {
            let hit = res == Resource::Topic(&self.trace_topic) && perm == Perm::PUB;
            only_trace_pub = Some(only_trace_pub.unwrap_or(true) && hit);
            Ok::<(), ()>(())
        });
        only_trace_pub == Some(true)
    }
}

/// Java's first steps: a globally white-listed address is admitted as is (`None`);
/// otherwise the request must name an access key of a configured account.
fn identify<'a, 'r>(
    acl: &'a PlainAcl,
    req: &'r RemotingCommand,
    ip: IpAddr,
) -> Result<Option<(&'r str, &'a Account)>, AclDenied> {
    if acl.globally_white(ip) {
        return Ok(None);
    }
    let Some(ak) = req.ext(ACCESS_KEY) else {
        return Err(AclDenied("No accessKey is configured".into()));
    };
    match acl.accounts.get(ak) {
        Some(account) => Ok(Some((ak, account))),
        None => Err(AclDenied(format!("No acl config for {ak}"))),
    }
}

fn check_one(account: &Account, res: Resource<'_>, needed: Perm) -> Result<(), AclDenied> {
    if account.perm_for(res).allows(needed) {
        Ok(())
    } else {
        Err(AclDenied(format!("No default permission for {res}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Credentials;

    const FILE: &str = r#"
globalWhiteRemoteAddresses: [10.9.9.*]
accounts:
  - accessKey: RocketMQ
    secretKey: "12345678"
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms: [TopicTest=PUB|SUB, OnlyPub=PUB, Denied=DENY]
    groupPerms: [DeniedGroup=DENY]
  - accessKey: rocketmq2
    secretKey: "87654321"
    admin: true
  - accessKey: whitelisted
    secretKey: "whatever1"
    whiteRemoteAddress: 127.0.0.2
"#;

    fn validator(role: Role) -> AclValidator {
        let acl = PlainAcl::parse(FILE).unwrap();
        AclValidator::new(role, Arc::new(ArcSwap::from_pointee(acl)), "RMQ_SYS_TRACE_TOPIC")
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn signed(mut cmd: RemotingCommand, ak: &str, sk: &str) -> RemotingCommand {
        Credentials::new(ak, sk).sign(&mut cmd);
        cmd
    }

    fn send(topic: &str) -> RemotingCommand {
        RemotingCommand::request(rq::SEND_MESSAGE_V2)
            .with_ext("a", "PG")
            .with_ext("b", topic)
            .with_body(&b"hello"[..])
    }

    fn denial(v: &AclValidator, cmd: &RemotingCommand, ip: IpAddr) -> String {
        v.check(cmd, ip).unwrap_err().0
    }

    #[test]
    fn check_order_and_messages() {
        let v = validator(Role::Broker);
        let ok = signed(send("TopicTest"), "RocketMQ", "12345678");
        v.check(&ok, LOCAL).unwrap();
        assert_eq!(denial(&v, &send("TopicTest"), LOCAL), "No accessKey is configured");
        assert_eq!(
            denial(&v, &signed(send("TopicTest"), "Nobody12", "12345678"), LOCAL),
            "No acl config for Nobody12"
        );
        assert_eq!(
            denial(&v, &signed(send("TopicTest"), "RocketMQ", "wrong-secret"), LOCAL),
            "Check signature failed for accessKey=RocketMQ"
        );
        // A body changed after signing fails too.
        let mut tampered = ok.clone();
        tampered.body = bytes::Bytes::from_static(b"hellO");
        assert!(denial(&v, &tampered, LOCAL).starts_with("Check signature failed"));
        assert_eq!(
            denial(&v, &signed(send("Denied"), "RocketMQ", "12345678"), LOCAL),
            "No default permission for topic:Denied"
        );
        assert_eq!(
            denial(&v, &signed(send("Unlisted"), "RocketMQ", "12345678"), LOCAL),
            "No default permission for topic:Unlisted"
        );
        // Global white list: no key at all.
        v.check(&send("Denied"), "10.9.9.7".parse().unwrap()).unwrap();
        // Account white list: no signature needed, no permission check.
        let unsigned_white = send("Denied").with_ext(ACCESS_KEY, "whitelisted");
        v.check(&unsigned_white, "127.0.0.2".parse().unwrap()).unwrap();
        assert!(denial(&v, &unsigned_white, LOCAL).starts_with("Check signature failed"));
        assert!(AclDenied("x".into())
            .response()
            .remark
            .unwrap()
            .starts_with("org.apache.rocketmq.acl.common.AclException: x"));
    }

    #[test]
    fn pull_needs_topic_and_group() {
        let v = validator(Role::Broker);
        let pull = |t: &str, g: &str| {
            signed(
                RemotingCommand::request(rq::PULL_MESSAGE)
                    .with_ext("topic", t)
                    .with_ext("consumerGroup", g),
                "RocketMQ",
                "12345678",
            )
        };
        v.check(&pull("TopicTest", "CG"), LOCAL).unwrap();
        assert_eq!(
            denial(&v, &pull("OnlyPub", "CG"), LOCAL),
            "No default permission for topic:OnlyPub"
        );
        assert_eq!(
            denial(&v, &pull("TopicTest", "DeniedGroup"), LOCAL),
            "No default permission for group:DeniedGroup"
        );
        // The retry topic is the group.
        v.check(&pull("%RETRY%CG", "CG"), LOCAL).unwrap();
    }

    #[test]
    fn offset_reads_need_sub() {
        let v = validator(Role::Broker);
        let read = |code: i32, t: &str| {
            let cmd = RemotingCommand::request(code)
                .with_ext("topic", t)
                .with_ext("queueId", 0)
                .with_ext("consumerGroup", "CG");
            signed(cmd, "RocketMQ", "12345678")
        };
        for code in [
            rq::QUERY_CONSUMER_OFFSET,
            rq::SEARCH_OFFSET_BY_TIMESTAMP,
            rq::GET_MAX_OFFSET,
            rq::GET_MIN_OFFSET,
            rq::GET_EARLIEST_MSG_STORETIME,
        ] {
            v.check(&read(code, "TopicTest"), LOCAL).unwrap();
            // A consumer reads its retry topic's offsets with its group's SUB.
            v.check(&read(code, "%RETRY%CG"), LOCAL).unwrap();
            assert_eq!(
                denial(&v, &read(code, "OnlyPub"), LOCAL),
                "No default permission for topic:OnlyPub",
                "code {code}"
            );
        }
        let q = RemotingCommand::request(rq::QUERY_CONSUMER_OFFSET)
            .with_ext("topic", "TopicTest")
            .with_ext("consumerGroup", "DeniedGroup");
        assert_eq!(
            denial(&v, &signed(q, "RocketMQ", "12345678"), LOCAL),
            "No default permission for group:DeniedGroup"
        );
    }

    #[test]
    fn heartbeat_body_resources() {
        let v = validator(Role::Broker);
        let hb = |topic: &str, group: &str| {
            let body = format!(
                r#"{{"clientID":"c","producerDataSet":[{{"groupName":"PG"}}],"consumerDataSet":[{{"groupName":"{group}","subscriptionDataSet":[{{"topic":"{topic}","subString":"*"}}]}}]}}"#
            );
            signed(
                RemotingCommand::request(rq::HEART_BEAT).with_body(body.into_bytes()),
                "RocketMQ",
                "12345678",
            )
        };
        v.check(&hb("TopicTest", "CG"), LOCAL).unwrap();
        assert!(denial(&v, &hb("Denied", "CG"), LOCAL).ends_with("topic:Denied"));
        assert!(denial(&v, &hb("TopicTest", "DeniedGroup"), LOCAL).ends_with("group:DeniedGroup"));
    }

    #[test]
    fn admin_codes() {
        let v = validator(Role::Broker);
        let create = RemotingCommand::request(rq::UPDATE_AND_CREATE_TOPIC).with_ext("topic", "X");
        assert_eq!(
            denial(&v, &signed(create.clone(), "RocketMQ", "12345678"), LOCAL),
            "Need admin permission for request code=17, but accessKey=RocketMQ is not"
        );
        v.check(&signed(create, "rocketmq2", "87654321"), LOCAL).unwrap();
        // The admin without explicit lists passes resource checks.
        v.check(&signed(send("Denied"), "rocketmq2", "87654321"), LOCAL).unwrap();
        // Signature-only codes.
        let q = RemotingCommand::request(rq::GET_CONSUMER_RUNNING_INFO).with_ext("topic", "Denied");
        v.check(&signed(q, "RocketMQ", "12345678"), LOCAL).unwrap();
    }

    #[test]
    fn reads_by_id_check_the_found_topic() {
        let v = validator(Role::Broker);
        let view = |topic: Option<&str>| {
            let mut r = RemotingCommand::request(rq::VIEW_MESSAGE_BY_ID).with_ext("offset", "0");
            if let Some(t) = topic {
                r = r.with_ext("topic", t);
            }
            signed(r, "RocketMQ", "12345678")
        };
        // A 5.x client names the topic: checked before the lookup.
        assert_eq!(
            denial(&v, &view(Some("OnlyPub")), LOCAL),
            "No default permission for topic:OnlyPub"
        );
        // A 4.x client does not: admitted, then the found record's topic decides.
        let old = view(None);
        v.check(&old, LOCAL).unwrap();
        v.authorize_found(&old, LOCAL, "TopicTest", Perm::SUB).unwrap();
        assert_eq!(
            v.authorize_found(&old, LOCAL, "Denied", Perm::SUB).unwrap_err().0,
            "No default permission for topic:Denied"
        );
        // A retry topic is its group.
        v.authorize_found(&old, LOCAL, "%RETRY%CG", Perm::SUB).unwrap();
        assert!(v.authorize_found(&old, LOCAL, "%RETRY%DeniedGroup", Perm::SUB).is_err());
        // The admin without lists and white-listed callers pass.
        let admin =
            signed(RemotingCommand::request(rq::VIEW_MESSAGE_BY_ID), "rocketmq2", "87654321");
        v.authorize_found(&admin, LOCAL, "Denied", Perm::SUB).unwrap();
        v.authorize_found(&view(None), "10.9.9.1".parse().unwrap(), "Denied", Perm::SUB).unwrap();
        // QUERY_CONSUME_QUEUE reads a queue: topic and group SUB.
        let qcq = signed(
            RemotingCommand::request(rq::QUERY_CONSUME_QUEUE)
                .with_ext("topic", "TopicTest")
                .with_ext("consumerGroup", "DeniedGroup"),
            "RocketMQ",
            "12345678",
        );
        assert_eq!(denial(&v, &qcq, LOCAL), "No default permission for group:DeniedGroup");
    }

    #[test]
    fn trace_topic_exemption() {
        let v = validator(Role::Broker);
        v.check(&signed(send("RMQ_SYS_TRACE_TOPIC"), "RocketMQ", "12345678"), LOCAL).unwrap();
    }

    #[test]
    fn namesrv_writes_need_admin_reads_open() {
        let v = validator(Role::namesrv(false));
        let reg = RemotingCommand::request(rq::REGISTER_BROKER).with_ext("brokerName", "b");
        assert_eq!(denial(&v, &reg, LOCAL), "No accessKey is configured");
        assert!(denial(&v, &signed(reg.clone(), "RocketMQ", "12345678"), LOCAL)
            .starts_with("Need admin permission for request code=103"));
        v.check(&signed(reg, "rocketmq2", "87654321"), LOCAL).unwrap();
        let route = RemotingCommand::request(rq::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", "T");
        v.check(&route, LOCAL).unwrap();
        let strict = validator(Role::namesrv(true));
        assert_eq!(denial(&strict, &route, LOCAL), "No accessKey is configured");
        strict.check(&signed(route, "RocketMQ", "12345678"), LOCAL).unwrap();
    }

    #[test]
    fn controller_writes_and_raft_need_admin_reads_open() {
        let v = validator(Role::controller(false));
        for code in [
            rq::CONTROLLER_ELECT_MASTER,
            rq::CONTROLLER_ALTER_SYNC_STATE_SET,
            rq::CONTROLLER_APPLY_BROKER_ID,
            rq::CONTROLLER_REGISTER_BROKER,
            rq::BROKER_HEARTBEAT,
            rq::CONTROLLER_RAFT_APPEND,
            rq::CONTROLLER_RAFT_VOTE,
            rq::CONTROLLER_RAFT_SNAPSHOT,
            // A code the controller does not know is not a read either.
            4242,
        ] {
            let r = RemotingCommand::request(code).with_ext("brokerName", "b");
            assert_eq!(denial(&v, &r, LOCAL), "No accessKey is configured", "code {code}");
            assert!(denial(&v, &signed(r.clone(), "RocketMQ", "12345678"), LOCAL)
                .starts_with(&format!("Need admin permission for request code={code}")));
            assert!(denial(&v, &signed(r.clone(), "rocketmq2", "wrong"), LOCAL)
                .starts_with("Check signature failed"));
            v.check(&signed(r, "rocketmq2", "87654321"), LOCAL).unwrap();
        }
        for &code in CONTROLLER_READ_CODES {
            let r = RemotingCommand::request(code).with_ext("brokerName", "b");
            v.check(&r, LOCAL).unwrap();
            let strict = validator(Role::controller(true));
            assert_eq!(denial(&strict, &r, LOCAL), "No accessKey is configured");
            strict.check(&signed(r, "RocketMQ", "12345678"), LOCAL).unwrap();
        }
    }
}
