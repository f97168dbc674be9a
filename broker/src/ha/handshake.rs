//! The controller-mode HA handshake (rmq's; Java's AutoSwitch HA has its own): before the
//! classic frame stream, the slave says who it is and the master answers with its epoch
//! entries, so the slave can cut what it holds past the last common epoch boundary
//! (`epoch_cache::consistent_point`) before it replicates.
//!
//! * slave → master, 24 bytes: `[MAGIC i64][brokerId i64][lastEpoch i64]`;
//! * master → slave: a frame header `[MAGIC i64][size i32]` and `size` bytes of text: the
//!   master's max offset on the first line, then `epoch-startOffset` lines.
//!
//! A classic master reads the magic as a negative report and closes the connection, so a
//! controller-mode slave never silently follows a classic master.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::epoch_cache::{self, EpochEntry};
use super::wire::{FrameHeader, FRAME_HEADER};

/// Marks a handshake (negative: never a valid report or frame offset).
pub const MAGIC: i64 = -0x524D_5143_4D48; // "RMQCMH"
/// Bytes of the slave's hello.
pub const HELLO: usize = 24;
/// The largest answer accepted (an epoch table is a few lines).
const MAX_ANSWER: usize = 1 << 20;

/// The slave's hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The slave's controller-applied broker id.
    pub broker_id: i64,
    /// The last epoch in its epoch file.
    pub last_epoch: i64,
}

/// Write the hello.
pub async fn send_hello<W: AsyncWrite + Unpin>(w: &mut W, h: Hello) -> std::io::Result<()> {
    let mut b = [0u8; HELLO];
    b[..8].copy_from_slice(&MAGIC.to_be_bytes());
    b[8..16].copy_from_slice(&h.broker_id.to_be_bytes());
    b[16..].copy_from_slice(&h.last_epoch.to_be_bytes());
    w.write_all(&b).await
}

/// Read a hello within `within`; an error names what came instead.
pub async fn read_hello<R: AsyncRead + Unpin>(
    r: &mut R,
    within: Duration,
) -> Result<Hello, String> {
    let mut b = [0u8; HELLO];
    tokio::time::timeout(within, r.read_exact(&mut b))
        .await
        .map_err(|_| "no controller-mode handshake from the slave".to_string())?
        .map_err(|e| e.to_string())?;
    let magic = i64::from_be_bytes(b[..8].try_into().unwrap_or_default());
    if magic != MAGIC {
        return Err(format!(
            "the slave did not open with the controller-mode handshake (first word {magic}): \
             is it a classic slave? enableControllerMode must match across the group"
        ));
    }
    Ok(Hello {
        broker_id: i64::from_be_bytes(b[8..16].try_into().unwrap_or_default()),
        last_epoch: i64::from_be_bytes(b[16..].try_into().unwrap_or_default()),
    })
}

/// Write the master's answer: its max offset and epoch entries.
pub async fn send_answer<W: AsyncWrite + Unpin>(
    w: &mut W,
    max: i64,
    entries: &[EpochEntry],
) -> std::io::Result<()> {
    let mut text = format!("{max}\n");
    for e in entries {
        text.push_str(&format!("{}-{}\n", e.epoch, e.start));
    }
    let mut out = FrameHeader { offset: MAGIC, size: text.len() as i32 }.encode().to_vec();
    out.extend_from_slice(text.as_bytes());
    w.write_all(&out).await
}

/// Read the master's answer within `within`: (its max offset, its epoch entries).
pub async fn read_answer<R: AsyncRead + Unpin>(
    r: &mut R,
    within: Duration,
) -> Result<(i64, Vec<EpochEntry>), String> {
    let read = async {
        let mut h = [0u8; FRAME_HEADER];
        r.read_exact(&mut h).await.map_err(|e| e.to_string())?;
        let h = FrameHeader::decode(&h).ok_or("short header")?;
        if h.offset != MAGIC {
            return Err(format!("the master answered a frame at {} instead of the handshake: is it a classic master?", h.offset));
        }
        let size = usize::try_from(h.size).ok().filter(|s| *s <= MAX_ANSWER).ok_or("bad size")?;
        let mut body = vec![0u8; size];
        r.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8(body).map_err(|_| "answer is not text".to_string())?;
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let max = first.trim().parse::<i64>().map_err(|_| format!("bad max offset '{first}'"))?;
        Ok((max, epoch_cache::parse(rest)?))
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| "no handshake answer from the master".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hello_and_answer_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        send_hello(&mut a, Hello { broker_id: 3, last_epoch: 7 }).await.unwrap();
        let h = read_hello(&mut b, Duration::from_secs(1)).await.unwrap();
        assert_eq!(h, Hello { broker_id: 3, last_epoch: 7 });
        let entries = [EpochEntry { epoch: 1, start: 0 }, EpochEntry { epoch: 2, start: 99 }];
        send_answer(&mut b, 1234, &entries).await.unwrap();
        let (max, got) = read_answer(&mut a, Duration::from_secs(1)).await.unwrap();
        assert_eq!((max, got.as_slice()), (1234, &entries[..]));
        // A classic report is refused with a reason.
        a.write_all(&5i64.to_be_bytes()).await.unwrap();
        a.write_all(&[0u8; 16]).await.unwrap();
        assert!(read_hello(&mut b, Duration::from_secs(1)).await.unwrap_err().contains("classic"));
    }
}
