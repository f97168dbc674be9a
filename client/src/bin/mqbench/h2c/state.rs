//! The connection's state shared by the calling tasks, the reader and the writer (behind one
//! lock): the bytes waiting to be written, the open streams, the server's settings and the
//! send-side flow control. Sans-IO: nothing here reads or writes a socket.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::oneshot;

use super::frame::{self, code, flag, setting, ty, DEFAULT_MAX_FRAME, DEFAULT_WINDOW, HEAD_LEN};
use super::hpack;

/// The receive window the client gives each stream (SETTINGS_INITIAL_WINDOW_SIZE): a
/// ReceiveMessage answer of a whole batch fits without a WINDOW_UPDATE round trip.
pub const STREAM_WINDOW: u32 = 2 << 20;
/// The client's connection receive window (raised from 65,535 by a WINDOW_UPDATE at start).
pub const CONN_WINDOW: u32 = 8 << 20;
/// The largest header block accepted from the server (HEADERS + CONTINUATION).
pub const MAX_HEADER_BLOCK: usize = 1 << 20;

/// The error of a call whose deadline passed.
pub const TIMED_OUT: &str = "timed out";

/// How a call ended: the answer, or why there is none.
pub type Done = Result<Answer, String>;

/// A call's complete answer.
#[derive(Debug)]
pub struct Answer {
    /// `:status`.
    pub status: u16,
    /// `grpc-status` and `grpc-message` (from the trailers, or the headers of a
    /// trailers-only answer).
    pub grpc: Option<(i32, String)>,
    /// The DATA frames' payloads, concatenated.
    pub body: Bytes,
}

/// Stream ids hash to themselves (spread): a call is a handful of map operations, SipHash
/// would be a visible part of them.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// An open stream (a call whose HEADERS went into the write buffer).
pub struct Stream {
    tx: oneshot::Sender<Done>,
    /// The call's ticket (see [`State::call`]).
    ticket: u64,
    /// When the call fails with [`TIMED_OUT`] and the stream is reset.
    deadline: Instant,
    /// What the server lets this stream still send (RFC 9113 §6.9; may go negative when
    /// the server lowers SETTINGS_INITIAL_WINDOW_SIZE).
    pub send_window: i64,
    /// Request bytes waiting for send window.
    pending: Bytes,
    /// END_STREAM was written.
    end_sent: bool,
    /// `:status` of the response headers, once they arrived.
    pub status: Option<u16>,
    /// `grpc-status` and `grpc-message`, once seen.
    pub grpc: Option<(i32, String)>,
    /// The response body so far.
    pub body: BytesMut,
    /// DATA bytes received and not yet given back by a WINDOW_UPDATE.
    pub unacked: u32,
}

/// A call waiting for the server's SETTINGS_MAX_CONCURRENT_STREAMS to allow one more stream.
struct Queued {
    ticket: u64,
    deadline: Instant,
    path: usize,
    timeout: String,
    body: Bytes,
    tx: oneshot::Sender<Done>,
}

/// The shared connection state.
pub struct State {
    /// Frames to write, in order (the writer task takes them all at once).
    pub out: BytesMut,
    hpack: hpack::Encoder,
    /// The next stream id (odd: client-initiated).
    pub next_id: u32,
    pub streams: HashMap<u32, Stream, BuildHasherDefault<IdHasher>>,
    queued: VecDeque<Queued>,
    /// Streams with request bytes waiting for send window, in arrival order.
    blocked: VecDeque<u32>,
    next_ticket: u64,
    /// The server's SETTINGS_MAX_FRAME_SIZE.
    pub max_frame: usize,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says).
    pub max_streams: usize,
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE: a new stream's send window.
    pub initial_window: i64,
    /// The connection's send window.
    pub send_window: i64,
    /// Why the connection is unusable, once it is: every later call fails with this.
    pub dead: Option<String>,
    /// The last stream id of the server's GOAWAY: no new call is started after one.
    pub goaway: Option<u32>,
    /// Calls ended (answered or failed), to be told outside the lock.
    pub done: Vec<(oneshot::Sender<Done>, Done)>,
}

impl State {
    /// The state of a new connection with `hpack`, holding the client's preface, SETTINGS
    /// and connection WINDOW_UPDATE ready to write.
    pub fn new(hpack: hpack::Encoder) -> State {
        let mut out = BytesMut::with_capacity(64 << 10);
        out.put_slice(frame::PREFACE);
        frame::put_settings(
            &mut out,
            &[(setting::ENABLE_PUSH, 0), (setting::INITIAL_WINDOW_SIZE, STREAM_WINDOW)],
        );
        frame::put_window_update(&mut out, 0, CONN_WINDOW - DEFAULT_WINDOW as u32);
        State {
            out,
            hpack,
            next_id: 1,
            streams: HashMap::default(),
            queued: VecDeque::new(),
            blocked: VecDeque::new(),
            next_ticket: 0,
            max_frame: DEFAULT_MAX_FRAME,
            max_streams: usize::MAX,
            initial_window: DEFAULT_WINDOW,
            send_window: DEFAULT_WINDOW,
            dead: None,
            goaway: None,
            done: Vec::new(),
        }
    }

    /// Start a call: a request to path `path` (an index into the encoder's paths) with
    /// `grpc-timeout: timeout`, body `body` (gRPC-framed) and deadline `deadline`. Returns
    /// the call's ticket, its stream id if it was opened at once (else it waits for a stream
    /// slot), and where its end will be told.
    #[allow(clippy::type_complexity)]
    pub fn call(
        &mut self,
        path: usize,
        timeout: &str,
        body: Bytes,
        deadline: Instant,
    ) -> Result<(u64, Option<u32>, oneshot::Receiver<Done>), String> {
        if let Some(e) = &self.dead {
            return Err(e.clone());
        }
        if self.goaway.is_some() {
            return Err("the server is closing the connection (GOAWAY)".into());
        }
        let (tx, rx) = oneshot::channel();
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if self.streams.len() >= self.max_streams || !self.queued.is_empty() {
            let timeout = timeout.to_string();
            self.queued.push_back(Queued { ticket, deadline, path, timeout, body, tx });
            return Ok((ticket, None, rx));
        }
        let id = self.open(ticket, deadline, path, timeout, body, tx)?;
        Ok((ticket, Some(id), rx))
    }

    /// Open a stream: HEADERS (and CONTINUATIONs) then as much of the body as the windows allow.
    fn open(
        &mut self,
        ticket: u64,
        deadline: Instant,
        path: usize,
        timeout: &str,
        body: Bytes,
        tx: oneshot::Sender<Done>,
    ) -> Result<u32, String> {
        let id = self.next_id;
        if id > frame::MAX_WINDOW as u32 {
            return Err("the connection's stream ids are used up".into());
        }
        self.next_id += 2;
        self.put_headers(id, path, timeout);
        let stream = Stream {
            tx,
            ticket,
            deadline,
            send_window: self.initial_window,
            pending: body,
            end_sent: false,
            status: None,
            grpc: None,
            body: BytesMut::new(),
            unacked: 0,
        };
        self.streams.insert(id, stream);
        if !self.send_pending(id) {
            self.blocked.push_back(id);
        }
        Ok(id)
    }

    /// Append the header block of a request as HEADERS, split into CONTINUATIONs past the
    /// server's frame size.
    fn put_headers(&mut self, id: u32, path: usize, timeout: &str) {
        let start = self.out.len();
        self.out.put_bytes(0, HEAD_LEN);
        self.hpack.encode(path, timeout, &mut self.out);
        let len = self.out.len() - start - HEAD_LEN;
        if len <= self.max_frame {
            let h = frame::head(len, ty::HEADERS, flag::END_HEADERS, id);
            self.out[start..start + HEAD_LEN].copy_from_slice(&h);
            return;
        }
        let mut block = self.out.split_off(start + HEAD_LEN).freeze();
        self.out.truncate(start);
        let mut kind = ty::HEADERS;
        while !block.is_empty() {
            let part = block.split_to(block.len().min(self.max_frame));
            let flags = if block.is_empty() { flag::END_HEADERS } else { 0 };
            frame::put_head(&mut self.out, part.len(), kind, flags, id);
            self.out.put_slice(&part);
            kind = ty::CONTINUATION;
        }
    }

    /// Write as much of stream `id`'s request body as the windows and the frame size allow;
    /// whether all of it (and END_STREAM) went.
    fn send_pending(&mut self, id: u32) -> bool {
        let Some(s) = self.streams.get_mut(&id) else { return true };
        while !s.end_sent {
            let room = s.send_window.min(self.send_window).max(0) as usize;
            let n = s.pending.len().min(self.max_frame).min(room);
            if n == 0 && !s.pending.is_empty() {
                return false;
            }
            let part = s.pending.split_to(n);
            s.end_sent = s.pending.is_empty();
            let flags = if s.end_sent { flag::END_STREAM } else { 0 };
            frame::put_head(&mut self.out, n, ty::DATA, flags, id);
            self.out.put_slice(&part);
            s.send_window -= n as i64;
            self.send_window -= n as i64;
        }
        true
    }

    /// Retry the streams waiting for send window (after a WINDOW_UPDATE or SETTINGS).
    pub fn unblock(&mut self) {
        for _ in 0..self.blocked.len() {
            if self.send_window <= 0 {
                return;
            }
            let Some(id) = self.blocked.pop_front() else { return };
            if !self.send_pending(id) {
                self.blocked.push_back(id);
            }
        }
    }

    /// Open waiting calls while the server allows more streams.
    pub fn start_queued(&mut self) {
        while self.streams.len() < self.max_streams && self.goaway.is_none() {
            let Some(q) = self.queued.pop_front() else { return };
            if q.tx.is_closed() {
                continue; // its caller gave up
            }
            if let Err(e) = self.open(q.ticket, q.deadline, q.path, &q.timeout, q.body, q.tx) {
                // Only when the stream ids ran out: tell it and every other waiting call.
                self.fail_all(e);
                return;
            }
        }
    }

    /// Remove stream `id` (the call has ended or is abandoned): its slot goes to a waiting call.
    fn remove(&mut self, id: u32) -> Option<Stream> {
        let s = self.streams.remove(&id)?;
        if !self.queued.is_empty() {
            self.start_queued();
        }
        Some(s)
    }

    /// Stream `id` ended from the server's side (END_STREAM): its call is answered. A request
    /// not yet fully sent is cancelled (RFC 9113 §8.1: the answer does not need the rest).
    pub fn finish(&mut self, id: u32) {
        let Some(s) = self.remove(id) else { return };
        if !s.end_sent {
            frame::put_rst(&mut self.out, id, code::CANCEL);
        }
        let status = s.status.unwrap_or(0);
        self.done.push((s.tx, Ok(Answer { status, grpc: s.grpc, body: s.body.freeze() })));
    }

    /// Fail stream `id`'s call with `why`, resetting the stream with `code` if `Some` (a
    /// stream error of ours; `None` when the server reset it).
    pub fn fail(&mut self, id: u32, reset: Option<u32>, why: String) {
        let Some(s) = self.remove(id) else { return };
        if let Some(c) = reset {
            frame::put_rst(&mut self.out, id, c);
        }
        self.done.push((s.tx, Err(why)));
    }

    /// Abandon the call `ticket` (stream `id` if it was opened at once), whose caller gave up
    /// (timeout): its stream is reset so that it no longer counts against the server's limit.
    pub fn cancel(&mut self, ticket: u64, id: Option<u32>) {
        let id = match id {
            Some(id) => Some(id),
            None => match self.queued.iter().position(|q| q.ticket == ticket) {
                Some(i) => {
                    self.queued.remove(i);
                    return;
                }
                None => self.streams.iter().find(|(_, s)| s.ticket == ticket).map(|(&id, _)| id),
            },
        };
        if let Some(id) = id {
            if self.streams.get(&id).is_some_and(|s| s.ticket == ticket) && self.dead.is_none() {
                self.remove(id);
                frame::put_rst(&mut self.out, id, code::CANCEL);
            }
        }
    }

    /// Fail the calls whose deadline is before `now` (their streams reset: the server may
    /// stop working on them). One sweep of the connection replaces a timer per call.
    pub fn expire(&mut self, now: Instant) {
        let late: Vec<u32> =
            self.streams.iter().filter(|(_, s)| s.deadline <= now).map(|(&id, _)| id).collect();
        for id in late {
            self.fail(id, Some(code::CANCEL), TIMED_OUT.into());
        }
        while let Some(i) = self.queued.iter().position(|q| q.deadline <= now) {
            let q = self.queued.remove(i).expect("found");
            self.done.push((q.tx, Err(TIMED_OUT.into())));
        }
    }

    /// The server's GOAWAY: streams above `last` were not and will not be processed.
    pub fn go_away(&mut self, last: u32, why: String) {
        self.goaway = Some(self.goaway.map_or(last, |l| l.min(last)));
        let gone: Vec<u32> = self.streams.keys().copied().filter(|&id| id > last).collect();
        for id in gone {
            self.fail(id, None, why.clone());
        }
        for q in self.queued.drain(..) {
            self.done.push((q.tx, Err(why.clone())));
        }
    }

    /// The connection is unusable: fail every call now and later ones at once.
    pub fn fail_all(&mut self, why: String) {
        let why = self.dead.get_or_insert(why).clone();
        for (_, s) in self.streams.drain() {
            self.done.push((s.tx, Err(why.clone())));
        }
        for q in self.queued.drain(..) {
            self.done.push((q.tx, Err(why.clone())));
        }
        self.blocked.clear();
    }

    /// Apply the server's HEADER_TABLE_SIZE.
    pub fn set_header_table_size(&mut self, size: usize) {
        self.hpack.set_max_table_size(size);
    }

    /// Whether stream `id` is idle (never opened by the client; the server opens none).
    pub fn idle(&self, id: u32) -> bool {
        id.is_multiple_of(2) || id >= self.next_id
    }

    /// Calls waiting for a stream slot.
    #[cfg(test)]
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }
}
