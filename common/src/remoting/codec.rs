//! tokio-util `Decoder`/`Encoder` over the pure frame codec, for users that want `Framed`.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::protocol::frame::{self, FrameError, DEFAULT_MAX_FRAME};
use crate::protocol::RemotingCommand;

/// Frame codec with a maximum frame size (16 MiB by default, as Java).
#[derive(Debug, Clone, Copy)]
pub struct RemotingCodec {
    max_frame: usize,
}

impl Default for RemotingCodec {
    fn default() -> Self {
        RemotingCodec { max_frame: DEFAULT_MAX_FRAME }
    }
}

impl RemotingCodec {
    /// A codec that rejects frames above `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        RemotingCodec { max_frame }
    }
}

/// Errors of the codec: I/O or a bad frame.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Socket error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Malformed frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>, CodecError> {
        Ok(frame::decode(src, self.max_frame)?)
    }
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = CodecError;

    fn encode(&mut self, item: RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        frame::encode(&item, dst);
        Ok(())
    }
}

impl Encoder<&RemotingCommand> for RemotingCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &RemotingCommand, dst: &mut BytesMut) -> Result<(), CodecError> {
        frame::encode(item, dst);
        Ok(())
    }
}
