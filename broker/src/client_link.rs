//! [`ClientLink`]: how the broker reaches an online client, whichever front end it came in
//! through: a remoting connection ([`Channel`]) or a gRPC session (`grpc::session`). The client
//! registries (consumers, producers) hold links, so admin listings, expiry and transaction
//! checks treat both kinds alike; requests only remoting can carry go through
//! [`ClientLink::remoting`].

use std::net::SocketAddr;
use std::sync::Arc;

use mq_common::protocol::RemotingCommand;
use mq_common::remoting::Channel;

use crate::grpc::session::Session;

/// A way to reach one client.
#[derive(Clone)]
pub enum ClientLink {
    /// A remoting (TCP) connection.
    Remoting(Channel),
    /// A gRPC client session (keyed by its `x-mq-client-id`).
    Grpc(Arc<Session>),
}

impl std::fmt::Debug for ClientLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientLink::Remoting(c) => c.fmt(f),
            ClientLink::Grpc(s) => write!(f, "GrpcSession#{}({})", s.id, s.client_id),
        }
    }
}

impl From<Channel> for ClientLink {
    fn from(c: Channel) -> Self {
        ClientLink::Remoting(c)
    }
}

impl ClientLink {
    /// Unique id within the process (remoting channel ids and gRPC session ids never collide).
    pub fn id(&self) -> u64 {
        match self {
            ClientLink::Remoting(c) => c.id(),
            ClientLink::Grpc(s) => s.id,
        }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        match self {
            ClientLink::Remoting(c) => c.peer_addr(),
            ClientLink::Grpc(s) => s.peer(),
        }
    }

    /// True once the connection is closed or the session ended.
    pub fn is_closed(&self) -> bool {
        match self {
            ClientLink::Remoting(c) => c.is_closed(),
            ClientLink::Grpc(s) => s.is_closed(),
        }
    }

    /// Close the connection / end the session.
    pub fn close(&self) {
        match self {
            ClientLink::Remoting(c) => c.close(),
            ClientLink::Grpc(s) => s.close(),
        }
    }

    /// Send a oneway remoting command; gRPC clients have no remoting commands (false).
    pub fn send_oneway(&self, cmd: RemotingCommand) -> bool {
        match self {
            ClientLink::Remoting(c) => c.send_oneway(cmd),
            ClientLink::Grpc(_) => false,
        }
    }

    /// The remoting connection, for requests only remoting clients answer.
    pub fn remoting(&self) -> Option<&Channel> {
        match self {
            ClientLink::Remoting(c) => Some(c),
            ClientLink::Grpc(_) => None,
        }
    }
}
