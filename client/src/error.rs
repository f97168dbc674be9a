//! The client's one error type.

use mq_common::protocol::RemotingCommand;
use mq_common::remoting::RemotingError;

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The broker or nameserver answered with a non-success code.
    #[error("broker answered code {code}: {remark}")]
    Broker {
        /// Response code (see `mq_common::protocol::codes::response`).
        code: i32,
        /// The remark the server sent (may be empty).
        remark: String,
        /// Address that answered.
        addr: String,
    },
    /// Network failure: connect, timeout, closed connection.
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    /// No route for the topic (the nameserver does not know it and TBW102 is unavailable).
    #[error("no route info for topic '{0}'")]
    NoRoute(String),
    /// The address of a broker name is unknown.
    #[error("broker '{0}' not found in any route")]
    BrokerNotFound(String),
    /// Every attempt failed; the last error is kept.
    #[error("send failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: usize,
        /// The last error.
        last: Box<ClientError>,
    },
    /// The caller passed something invalid (topic name, empty body, too big, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A response could not be decoded.
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The client is not started or already shut down.
    #[error("client is shut down")]
    Shutdown,
    /// Local I/O (broadcast offset file).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// The broker response code, if this is a broker error.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            ClientError::RetriesExhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// The same error again, for each member of an auto-batched send that failed as one
    /// (the error types hold `io::Error`s, which are not `Clone`: kind and text are kept).
    pub(crate) fn duplicate(&self) -> ClientError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            ClientError::Broker { code, remark, addr } => {
                ClientError::Broker { code: *code, remark: remark.clone(), addr: addr.clone() }
            }
            ClientError::Remoting(e) => ClientError::Remoting(match e {
                RemotingError::Connect { addr, source } => {
                    RemotingError::Connect { addr: addr.clone(), source: io(source) }
                }
                RemotingError::Timeout { addr, millis } => {
                    RemotingError::Timeout { addr: addr.clone(), millis: *millis }
                }
                RemotingError::Closed(a) => RemotingError::Closed(a.clone()),
                RemotingError::BadAddress(a) => RemotingError::BadAddress(a.clone()),
            }),
            ClientError::NoRoute(t) => ClientError::NoRoute(t.clone()),
            ClientError::BrokerNotFound(b) => ClientError::BrokerNotFound(b.clone()),
            ClientError::RetriesExhausted { attempts, last } => ClientError::RetriesExhausted {
                attempts: *attempts,
                last: Box::new(last.duplicate()),
            },
            ClientError::InvalidArgument(m) => ClientError::InvalidArgument(m.clone()),
            ClientError::BadResponse(m) => ClientError::BadResponse(m.clone()),
            ClientError::Shutdown => ClientError::Shutdown,
            ClientError::Io(e) => ClientError::Io(io(e)),
        }
    }

    /// A broker error built from a response.
    pub(crate) fn from_response(addr: &str, resp: &RemotingCommand) -> Self {
        ClientError::Broker {
            code: resp.code,
            remark: resp.remark.clone().unwrap_or_default(),
            addr: addr.to_string(),
        }
    }
}

/// Result alias of the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
