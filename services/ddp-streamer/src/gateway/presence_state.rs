//! Reading `presence_state`: the last message of each queue is that queue's full state
//! (design §5.3). Shared by the gateway's presence cache and the presence service's warm-up.

use anyhow::Context;
use chat_proto::presence_bodies::{StateBody, TAG_STATE};

use crate::broker::TopicReader;

/// The last snapshot stored on queue `q` of `presence_state`, or `None` if the queue is empty.
/// Errors mean the broker could not be read (the caller retries; an empty queue is not an error).
pub async fn read_last_state(reader: &TopicReader, q: i32) -> anyhow::Result<Option<StateBody>> {
    let queues = reader.queues().await?;
    let (mq, addr) = queues
        .into_iter()
        .find(|(mq, _)| mq.queue_id == q)
        .with_context(|| format!("presence_state has no queue {q}"))?;
    let max = reader.max_offset(&mq, &addr).await?;
    if max <= 0 {
        return Ok(None);
    }
    let page = reader.pull(&mq, &addr, TAG_STATE, max - 1, 1).await?;
    // Only the newest message counts; an unparsable one is treated as "no state" (a
    // restart then rebuilds from batches alone) rather than blocking startup forever.
    Ok(page.messages.last().and_then(|m| match serde_json::from_slice::<StateBody>(&m.body) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(queue = q, error = %e, "unreadable presence_state snapshot ignored");
            None
        }
    }))
}
