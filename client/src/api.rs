//! Typed RPCs over the remoting client (Java `MQClientAPIImpl`): one function per request.
//!
//! Everything here is stateless apart from the connection pool and the nameserver cursor, so
//! producers, consumers and the admin client share it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mq_common::acl::Credentials;
use mq_common::protocol::body::{
    self, ConsumerListByGroupResponseBody, HeartbeatData, LockBatchRequestBody,
    LockBatchResponseBody, MessageQueue, TopicRouteData,
};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::*;
use mq_common::protocol::{lenient_json, CommandHeader, RemotingCommand};
use mq_common::remoting::{ClientConfig, RemotingClient, TlsClient};

use crate::error::{ClientError, Result};

/// The RPC layer: a connection pool plus the nameserver list.
#[derive(Clone)]
pub struct ClientApi {
    remoting: RemotingClient,
    namesrv: std::sync::Arc<Vec<String>>,
    cursor: std::sync::Arc<AtomicUsize>,
    /// Default timeout of RPCs.
    pub timeout: Duration,
}

impl ClientApi {
    /// A new RPC layer talking to `namesrv` (tried in order, sticking to the last that
    /// answered), signing every request with `credentials` and connecting with `tls` when
    /// given.
    pub fn new(
        namesrv: Vec<String>,
        timeout: Duration,
        credentials: Option<Credentials>,
        tls: Option<TlsClient>,
    ) -> Self {
        ClientApi {
            remoting: RemotingClient::new(ClientConfig {
                connect_timeout: timeout,
                credentials,
                tls,
                ..Default::default()
            }),
            namesrv: std::sync::Arc::new(namesrv),
            cursor: std::sync::Arc::new(AtomicUsize::new(0)),
            timeout,
        }
    }

    /// The underlying remoting client.
    pub fn remoting(&self) -> &RemotingClient {
        &self.remoting
    }

    /// The nameserver addresses.
    pub fn namesrv_addrs(&self) -> &[String] {
        &self.namesrv
    }

    /// Send and wait; any response code is returned as is.
    pub async fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        Ok(self.remoting.invoke(addr, cmd, timeout).await?)
    }

    /// Send and wait; a non-SUCCESS code is an error.
    pub async fn invoke_ok(&self, addr: &str, cmd: RemotingCommand) -> Result<RemotingCommand> {
        let resp = self.invoke(addr, cmd, self.timeout).await?;
        if resp.code != response::SUCCESS {
            return Err(ClientError::from_response(addr, &resp));
        }
        Ok(resp)
    }

    /// Send a request to the nameservers, trying each in turn from the last good one.
    pub async fn namesrv_invoke(&self, cmd: RemotingCommand) -> Result<(String, RemotingCommand)> {
        if self.namesrv.is_empty() {
            return Err(ClientError::InvalidArgument("no nameserver address configured".into()));
        }
        let start = self.cursor.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..self.namesrv.len() {
            let idx = (start + i) % self.namesrv.len();
            let addr = &self.namesrv[idx];
            match self.remoting.invoke(addr, cmd.clone(), self.timeout).await {
                Ok(resp) => {
                    self.cursor.store(idx, Ordering::Relaxed);
                    return Ok((addr.clone(), resp));
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "nameserver unreachable");
                    last = Some(e);
                }
            }
        }
        Err(last.map(ClientError::from).unwrap_or(ClientError::Shutdown))
    }

    /// Nameserver request that must succeed.
    pub async fn namesrv_ok(&self, cmd: RemotingCommand) -> Result<RemotingCommand> {
        let (addr, resp) = self.namesrv_invoke(cmd).await?;
        if resp.code != response::SUCCESS {
            return Err(ClientError::from_response(&addr, &resp));
        }
        Ok(resp)
    }

    /// GET_ROUTEINFO_BY_TOPIC; `None` when the topic does not exist.
    pub async fn get_route(&self, topic: &str) -> Result<Option<TopicRouteData>> {
        let hdr = GetRouteInfoRequestHeader {
            topic: topic.into(),
            accept_standard_json_only: Some(true),
        };
        let (addr, resp) = self
            .namesrv_invoke(RemotingCommand::request_with_header(
                request::GET_ROUTEINFO_BY_TOPIC,
                &hdr,
            ))
            .await?;
        match resp.code {
            response::SUCCESS => Ok(Some(parse_body(&resp.body)?)),
            response::TOPIC_NOT_EXIST => Ok(None),
            _ => Err(ClientError::from_response(&addr, &resp)),
        }
    }

    /// The local address of our connection to a nameserver (used to detect our own IP).
    pub async fn local_ip(&self) -> Option<std::net::IpAddr> {
        for addr in self.namesrv.iter() {
            if let Ok(ch) = self.remoting.channel(addr).await {
                return Some(ch.local_addr().ip());
            }
        }
        None
    }

    /// HEART_BEAT.
    pub async fn heartbeat(&self, addr: &str, data: &HeartbeatData) -> Result<()> {
        let cmd = RemotingCommand::request(request::HEART_BEAT).with_body(body::to_json(data));
        self.invoke_ok(addr, cmd).await.map(|_| ())
    }

    /// UNREGISTER_CLIENT.
    pub async fn unregister(
        &self,
        addr: &str,
        client_id: &str,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Result<()> {
        let hdr = UnregisterClientRequestHeader {
            client_id: client_id.into(),
            producer_group: producer_group.map(Into::into),
            consumer_group: consumer_group.map(Into::into),
        };
        self.invoke_ok(addr, RemotingCommand::request_with_header(request::UNREGISTER_CLIENT, &hdr))
            .await
            .map(|_| ())
    }

    /// GET_CONSUMER_LIST_BY_GROUP.
    pub async fn consumer_ids(&self, addr: &str, group: &str) -> Result<Vec<String>> {
        let hdr = ConsumerGroupRequestHeader { consumer_group: group.into() };
        let resp = self
            .invoke_ok(
                addr,
                RemotingCommand::request_with_header(request::GET_CONSUMER_LIST_BY_GROUP, &hdr),
            )
            .await?;
        let b: ConsumerListByGroupResponseBody = parse_body(&resp.body)?;
        Ok(b.consumer_id_list)
    }

    /// QUERY_CONSUMER_OFFSET; `None` when the broker has no offset (QUERY_NOT_FOUND).
    ///
    /// Sends `setZeroIfNotFound=false` so that a 5.x-style broker reports "no offset" instead of
    /// 0 for a young queue, and the consumer's consume-from-where applies (a 4.x broker ignores
    /// the flag and answers 0 while the queue still starts at 0, as it does for Java clients).
    pub async fn query_consumer_offset(
        &self,
        addr: &str,
        group: &str,
        mq: &MessageQueue,
    ) -> Result<Option<i64>> {
        let hdr = QueryConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            set_zero_if_not_found: Some(false),
        };
        let resp = self
            .invoke(
                addr,
                RemotingCommand::request_with_header(request::QUERY_CONSUMER_OFFSET, &hdr),
                self.timeout,
            )
            .await?;
        match resp.code {
            response::SUCCESS => Ok(Some(decode::<OffsetResponseHeader>(&resp)?.offset)),
            response::QUERY_NOT_FOUND => Ok(None),
            _ => Err(ClientError::from_response(addr, &resp)),
        }
    }

    /// UPDATE_CONSUMER_OFFSET (waits for the answer).
    pub async fn update_consumer_offset(
        &self,
        addr: &str,
        group: &str,
        mq: &MessageQueue,
        offset: i64,
    ) -> Result<()> {
        let hdr = UpdateConsumerOffsetRequestHeader {
            consumer_group: group.into(),
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            commit_offset: offset,
        };
        self.invoke_ok(
            addr,
            RemotingCommand::request_with_header(request::UPDATE_CONSUMER_OFFSET, &hdr),
        )
        .await
        .map(|_| ())
    }

    async fn queue_offset(&self, code: i32, addr: &str, mq: &MessageQueue) -> Result<i64> {
        let hdr =
            QueueRequestHeader { topic: mq.topic.clone(), queue_id: mq.queue_id, committed: None };
        let resp = self.invoke_ok(addr, RemotingCommand::request_with_header(code, &hdr)).await?;
        Ok(decode::<OffsetResponseHeader>(&resp)?.offset)
    }

    /// GET_MAX_OFFSET.
    pub async fn max_offset(&self, addr: &str, mq: &MessageQueue) -> Result<i64> {
        self.queue_offset(request::GET_MAX_OFFSET, addr, mq).await
    }

    /// GET_MIN_OFFSET.
    pub async fn min_offset(&self, addr: &str, mq: &MessageQueue) -> Result<i64> {
        self.queue_offset(request::GET_MIN_OFFSET, addr, mq).await
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP.
    pub async fn search_offset(
        &self,
        addr: &str,
        mq: &MessageQueue,
        timestamp: i64,
    ) -> Result<i64> {
        let hdr = SearchOffsetRequestHeader {
            topic: mq.topic.clone(),
            queue_id: mq.queue_id,
            timestamp,
            boundary_type: None,
        };
        let resp = self
            .invoke_ok(
                addr,
                RemotingCommand::request_with_header(request::SEARCH_OFFSET_BY_TIMESTAMP, &hdr),
            )
            .await?;
        Ok(decode::<OffsetResponseHeader>(&resp)?.offset)
    }

    /// CONSUMER_SEND_MSG_BACK.
    pub async fn send_back(
        &self,
        addr: &str,
        hdr: &ConsumerSendMsgBackRequestHeader,
    ) -> Result<()> {
        self.invoke_ok(
            addr,
            RemotingCommand::request_with_header(request::CONSUMER_SEND_MSG_BACK, hdr),
        )
        .await
        .map(|_| ())
    }

    /// LOCK_BATCH_MQ: returns the queues now locked by us.
    pub async fn lock_batch(
        &self,
        addr: &str,
        body: &LockBatchRequestBody,
    ) -> Result<BTreeSet<MessageQueue>> {
        let cmd = RemotingCommand::request(request::LOCK_BATCH_MQ).with_body(body::to_json(body));
        let resp = self.invoke_ok(addr, cmd).await?;
        let b: LockBatchResponseBody = parse_body(&resp.body)?;
        Ok(b.lock_ok_mq_set)
    }

    /// UNLOCK_BATCH_MQ.
    pub async fn unlock_batch(&self, addr: &str, body: &LockBatchRequestBody) -> Result<()> {
        let cmd = RemotingCommand::request(request::UNLOCK_BATCH_MQ).with_body(body::to_json(body));
        self.invoke_ok(addr, cmd).await.map(|_| ())
    }
}

/// Decode a typed response header, mapping failure to [`ClientError::BadResponse`].
pub fn decode<H: CommandHeader>(resp: &RemotingCommand) -> Result<H> {
    resp.decode_header::<H>().map_err(|e| ClientError::BadResponse(e.to_string()))
}

/// Parse a (possibly fastjson) JSON body.
pub fn parse_body<T: serde::de::DeserializeOwned>(b: &Bytes) -> Result<T> {
    lenient_json::from_slice(b).map_err(|e| {
        ClientError::BadResponse(format!(
            "{e}: {}",
            String::from_utf8_lossy(&b[..b.len().min(200)])
        ))
    })
}
