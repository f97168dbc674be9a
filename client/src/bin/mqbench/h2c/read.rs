//! What the client does with each frame the server sends (sans-IO: bytes in, [`State`]
//! changed, frames to send appended to its write buffer).

use bytes::{Buf, BytesMut};

use super::frame::{self, code, flag, setting, ty, Head, DEFAULT_MAX_FRAME, HEAD_LEN, MAX_WINDOW};
use super::state::{State, CONN_WINDOW, MAX_HEADER_BLOCK, STREAM_WINDOW};

/// A connection error (RFC 9113 §5.4.1): the connection ends with a GOAWAY of `code`.
#[derive(Debug)]
pub struct ConnError {
    /// The error code ([`code`]).
    pub code: u32,
    /// What went wrong.
    pub why: String,
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP/2 protocol error from the server (code {}): {}", self.code, self.why)
    }
}

fn err(code: u32, why: impl Into<String>) -> ConnError {
    ConnError { code, why: why.into() }
}

/// The reader's own state: the HPACK decoder (it must see every header block, in order,
/// since the server's encoder indexes into its dynamic table), a header block being
/// continued, and received bytes not yet given back to the server's connection window.
pub struct Reader {
    decoder: loona_hpack::Decoder<'static>,
    /// A header block awaiting CONTINUATION: its stream, its HEADERS' END_STREAM, the bytes.
    continued: Option<(u32, bool, Vec<u8>)>,
    conn_unacked: u32,
}

/// What a header block says about a call.
#[derive(Default)]
struct Fields {
    status: Option<u16>,
    grpc: Option<i32>,
    message: Option<String>,
}

impl Reader {
    /// A reader for a new connection.
    pub fn new() -> Reader {
        // The client leaves SETTINGS_HEADER_TABLE_SIZE at its default (4096).
        Reader { decoder: loona_hpack::Decoder::new(), continued: None, conn_unacked: 0 }
    }

    /// Handle every complete frame at the start of `buf`, removing them from it.
    pub fn consume(&mut self, st: &mut State, buf: &mut BytesMut) -> Result<(), ConnError> {
        while buf.len() >= HEAD_LEN {
            let h = Head::parse(buf);
            if h.len > DEFAULT_MAX_FRAME {
                return Err(err(code::FRAME_SIZE_ERROR, format!("a frame of {} bytes", h.len)));
            }
            if buf.len() < HEAD_LEN + h.len {
                break;
            }
            self.frame(st, h, &buf[HEAD_LEN..HEAD_LEN + h.len])?;
            buf.advance(HEAD_LEN + h.len);
        }
        Ok(())
    }

    /// Handle one frame.
    pub fn frame(&mut self, st: &mut State, h: Head, p: &[u8]) -> Result<(), ConnError> {
        if let Some((id, ..)) = &self.continued {
            if h.ty != ty::CONTINUATION || h.stream != *id {
                return Err(err(code::PROTOCOL_ERROR, "a header block not continued"));
            }
        }
        let stream_frame = matches!(
            h.ty,
            ty::DATA | ty::HEADERS | ty::PRIORITY | ty::RST_STREAM | ty::CONTINUATION
        );
        if stream_frame && h.stream == 0 || h.stream != 0 && control_frame(h.ty) {
            return Err(err(
                code::PROTOCOL_ERROR,
                format!("frame type {} on stream {}", h.ty, h.stream),
            ));
        }
        match h.ty {
            ty::DATA => self.data(st, h, p),
            ty::HEADERS => {
                let mut block = frame::unpad(p, h.has(flag::PADDED))
                    .ok_or_else(|| err(code::PROTOCOL_ERROR, "HEADERS padding"))?;
                if h.has(flag::PRIORITY) {
                    block = block
                        .get(5..)
                        .ok_or_else(|| err(code::FRAME_SIZE_ERROR, "HEADERS priority"))?;
                }
                let end_stream = h.has(flag::END_STREAM);
                if h.has(flag::END_HEADERS) {
                    self.headers(st, h.stream, end_stream, block)
                } else {
                    self.continued = Some((h.stream, end_stream, block.to_vec()));
                    Ok(())
                }
            }
            ty::CONTINUATION => {
                let Some((id, end_stream, mut block)) = self.continued.take() else {
                    return Err(err(code::PROTOCOL_ERROR, "CONTINUATION without HEADERS"));
                };
                block.extend_from_slice(p);
                if block.len() > MAX_HEADER_BLOCK {
                    return Err(err(code::PROTOCOL_ERROR, "a header block over 1 MiB"));
                }
                if h.has(flag::END_HEADERS) {
                    self.headers(st, id, end_stream, &block)
                } else {
                    self.continued = Some((id, end_stream, block));
                    Ok(())
                }
            }
            ty::PRIORITY => Ok(()),
            ty::RST_STREAM => {
                let c = be32(p, "RST_STREAM")?;
                if st.idle(h.stream) {
                    return Err(err(code::PROTOCOL_ERROR, "RST_STREAM of an idle stream"));
                }
                st.fail(h.stream, None, format!("stream reset by the server (code {c})"));
                Ok(())
            }
            ty::SETTINGS => settings(st, h, p),
            ty::PUSH_PROMISE => Err(err(code::PROTOCOL_ERROR, "PUSH_PROMISE (push is disabled)")),
            ty::PING => {
                if p.len() != 8 {
                    return Err(err(code::FRAME_SIZE_ERROR, "PING of other than 8 bytes"));
                }
                if !h.has(flag::ACK) {
                    frame::put_ping_ack(&mut st.out, p);
                }
                Ok(())
            }
            ty::GOAWAY => {
                if p.len() < 8 {
                    return Err(err(code::FRAME_SIZE_ERROR, "GOAWAY under 8 bytes"));
                }
                let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
                let c = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                let debug = String::from_utf8_lossy(&p[8..]);
                st.go_away(
                    last,
                    format!("the server closed the connection (GOAWAY code {c}) {debug}"),
                );
                Ok(())
            }
            ty::WINDOW_UPDATE => window_update(st, h, p),
            _ => Ok(()), // unknown frame types are ignored (§4.1)
        }
    }

    fn data(&mut self, st: &mut State, h: Head, p: &[u8]) -> Result<(), ConnError> {
        if st.idle(h.stream) {
            return Err(err(code::PROTOCOL_ERROR, "DATA on an idle stream"));
        }
        // Flow control counts the whole payload, padding included (§6.9), also on streams
        // the client has reset.
        self.conn_unacked += p.len() as u32;
        if self.conn_unacked >= CONN_WINDOW / 2 {
            frame::put_window_update(&mut st.out, 0, std::mem::take(&mut self.conn_unacked));
        }
        let data = frame::unpad(p, h.has(flag::PADDED))
            .ok_or_else(|| err(code::PROTOCOL_ERROR, "DATA padding"))?;
        let Some(s) = st.streams.get_mut(&h.stream) else { return Ok(()) };
        if s.status.is_none() {
            let why = "DATA before the response headers".to_string();
            st.fail(h.stream, Some(code::PROTOCOL_ERROR), why);
            return Ok(());
        }
        s.body.extend_from_slice(data);
        s.unacked += p.len() as u32;
        if h.has(flag::END_STREAM) {
            st.finish(h.stream);
        } else if s.unacked >= STREAM_WINDOW / 2 {
            let n = std::mem::take(&mut s.unacked);
            frame::put_window_update(&mut st.out, h.stream, n);
        }
        Ok(())
    }

    /// A complete header block of stream `id`: the response headers, or the trailers.
    fn headers(
        &mut self,
        st: &mut State,
        id: u32,
        end_stream: bool,
        block: &[u8],
    ) -> Result<(), ConnError> {
        // Decoded first, whatever the stream's state: the dynamic table must stay in step.
        let mut f = Fields::default();
        self.decoder
            .decode_with_cb(block, |name, value| match &name[..] {
                b":status" => f.status = ascii(&value).and_then(|v| v.parse().ok()),
                b"grpc-status" => f.grpc = ascii(&value).and_then(|v| v.parse().ok()),
                b"grpc-message" => f.message = Some(percent_decode(&value)),
                _ => {}
            })
            .map_err(|e| err(code::COMPRESSION_ERROR, format!("HPACK: {e:?}")))?;
        if st.idle(id) {
            return Err(err(code::PROTOCOL_ERROR, "HEADERS on an idle stream"));
        }
        let Some(s) = st.streams.get_mut(&id) else { return Ok(()) };
        let grpc = f.grpc.map(|c| (c, f.message.unwrap_or_default()));
        if s.status.is_none() {
            match f.status {
                None => {
                    st.fail(id, Some(code::PROTOCOL_ERROR), "an answer without :status".into());
                    return Ok(());
                }
                // Informational (1xx): the real response headers follow.
                Some(c) if c < 200 && !end_stream => return Ok(()),
                Some(c) => s.status = Some(c),
            }
        } else if !end_stream {
            let why = "trailers without END_STREAM".to_string();
            st.fail(id, Some(code::PROTOCOL_ERROR), why);
            return Ok(());
        }
        if grpc.is_some() {
            s.grpc = grpc;
        }
        if end_stream {
            st.finish(id);
        }
        Ok(())
    }
}

/// Whether frames of type `t` belong to the connection (stream 0) only.
fn control_frame(t: u8) -> bool {
    matches!(t, ty::SETTINGS | ty::PING | ty::GOAWAY)
}

fn be32(p: &[u8], what: &str) -> Result<u32, ConnError> {
    match p {
        &[a, b, c, d] => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(err(code::FRAME_SIZE_ERROR, format!("{what} of other than 4 bytes"))),
    }
}

/// The server's SETTINGS: applied, then acknowledged.
fn settings(st: &mut State, h: Head, p: &[u8]) -> Result<(), ConnError> {
    if h.has(flag::ACK) {
        if !p.is_empty() {
            return Err(err(code::FRAME_SIZE_ERROR, "SETTINGS ack with a payload"));
        }
        return Ok(());
    }
    if !p.len().is_multiple_of(6) {
        return Err(err(code::FRAME_SIZE_ERROR, "SETTINGS not a multiple of 6 bytes"));
    }
    for e in p.chunks_exact(6) {
        let id = u16::from_be_bytes([e[0], e[1]]);
        let v = u32::from_be_bytes([e[2], e[3], e[4], e[5]]);
        match id {
            setting::HEADER_TABLE_SIZE => st.set_header_table_size(v as usize),
            setting::ENABLE_PUSH if v > 1 => {
                return Err(err(code::PROTOCOL_ERROR, "ENABLE_PUSH above 1"));
            }
            setting::MAX_CONCURRENT_STREAMS => st.max_streams = v as usize,
            setting::INITIAL_WINDOW_SIZE => {
                if v as i64 > MAX_WINDOW {
                    return Err(err(code::FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE above 2^31-1"));
                }
                // Every stream's window moves by the change (§6.9.2).
                let delta = v as i64 - st.initial_window;
                st.initial_window = v as i64;
                for s in st.streams.values_mut() {
                    s.send_window += delta;
                    if s.send_window > MAX_WINDOW {
                        return Err(err(code::FLOW_CONTROL_ERROR, "a stream window above 2^31-1"));
                    }
                }
            }
            setting::MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME as u32..=(1 << 24) - 1).contains(&v) {
                    return Err(err(code::PROTOCOL_ERROR, format!("MAX_FRAME_SIZE {v}")));
                }
                st.max_frame = v as usize;
            }
            _ => {} // unknown settings are ignored (§6.5.2)
        }
    }
    frame::put_settings_ack(&mut st.out);
    st.unblock();
    st.start_queued();
    Ok(())
}

fn window_update(st: &mut State, h: Head, p: &[u8]) -> Result<(), ConnError> {
    let inc = (be32(p, "WINDOW_UPDATE")? & 0x7fff_ffff) as i64;
    if h.stream == 0 {
        if inc == 0 {
            return Err(err(code::PROTOCOL_ERROR, "connection WINDOW_UPDATE of 0"));
        }
        st.send_window += inc;
        if st.send_window > MAX_WINDOW {
            return Err(err(code::FLOW_CONTROL_ERROR, "connection window above 2^31-1"));
        }
    } else {
        if st.idle(h.stream) {
            return Err(err(code::PROTOCOL_ERROR, "WINDOW_UPDATE of an idle stream"));
        }
        let Some(s) = st.streams.get_mut(&h.stream) else { return Ok(()) };
        s.send_window += inc;
        // Stream errors (§6.9, §6.9.1): that call fails, the connection goes on.
        if inc == 0 {
            st.fail(h.stream, Some(code::PROTOCOL_ERROR), "stream WINDOW_UPDATE of 0".into());
            return Ok(());
        }
        if s.send_window > MAX_WINDOW {
            let why = "stream window above 2^31-1".to_string();
            st.fail(h.stream, Some(code::FLOW_CONTROL_ERROR), why);
            return Ok(());
        }
    }
    st.unblock();
    Ok(())
}

fn ascii(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok()
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2).
fn percent_decode(v: &[u8]) -> String {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (v[i], v.get(i + 1).and_then(|&b| hex(b)), v.get(i + 2).and_then(|&b| hex(b))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
