//! The client against scripted servers: sans-IO (frames fed to [`Reader`] over a [`State`])
//! and over an in-memory byte stream ([`tokio::io::duplex`]) through the real tasks.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::frame::{self, code, flag, setting, ty, Head, HEAD_LEN};
use super::hpack::Encoder;
use super::read::Reader;
use super::state::{Done, State, CONN_WINDOW, STREAM_WINDOW};
use super::{Conn, Headers};

const PATHS: [&str; 3] = ["/svc/Send", "/svc/Receive", "/svc/Ack"];

fn encoder() -> Encoder {
    let paths: Vec<String> = PATHS.iter().map(|p| p.to_string()).collect();
    Encoder::new("test:1", &paths, &[("x-mq-language", "RUST")], "10000m")
}

/// A fresh state, its preface taken out of the write buffer.
fn state() -> State {
    let mut st = State::new(encoder());
    st.out.clear();
    st
}

fn frame_bytes(ty: u8, flags: u8, id: u32, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    frame::put_head(&mut b, payload.len(), ty, flags, id);
    b.put_slice(payload);
    b
}

/// The server's side: its HPACK encoder and the frames it sends.
struct Server {
    enc: loona_hpack::Encoder<'static>,
}

impl Server {
    fn new() -> Server {
        Server { enc: loona_hpack::Encoder::new() }
    }

    fn headers(&mut self, id: u32, flags: u8, fields: &[(&str, &str)]) -> BytesMut {
        let block = self.enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        frame_bytes(ty::HEADERS, flags | flag::END_HEADERS, id, &block)
    }
}

/// Feed `bytes` to the reader; the calls ended, told.
fn feed(r: &mut Reader, st: &mut State, bytes: &[u8]) -> Result<(), String> {
    let mut buf = BytesMut::from(bytes);
    let res = r.consume(st, &mut buf).map_err(|e| e.to_string());
    assert!(buf.is_empty() || res.is_err(), "frames left over");
    for (tx, d) in st.done.drain(..) {
        let _ = tx.send(d);
    }
    res
}

/// The frames in `b` (header, payload).
fn frames(b: &[u8]) -> Vec<(Head, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let h = Head::parse(&b[i..]);
        out.push((h, b[i + HEAD_LEN..i + HEAD_LEN + h.len].to_vec()));
        i += HEAD_LEN + h.len;
    }
    out
}

/// A deadline the test does not reach.
fn later() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn answer(rx: &mut oneshot::Receiver<Done>) -> Done {
    rx.try_recv().expect("the call has ended")
}

#[test]
fn a_call_writes_headers_then_its_data() {
    let mut st = state();
    let body = Bytes::from_static(b"\0\0\0\0\x03abc");
    let (_, id, _rx) = st.call(0, "10000m", body.clone(), later()).unwrap();
    assert_eq!(id, Some(1));
    let f = frames(&st.out);
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].0.ty, f[0].0.flags, f[0].0.stream), (ty::HEADERS, flag::END_HEADERS, 1));
    let fields = loona_hpack::Decoder::new().decode(&f[0].1).unwrap();
    assert_eq!(fields[2], (b":path".to_vec(), b"/svc/Send".to_vec()));
    assert_eq!((f[1].0.ty, f[1].0.flags, f[1].0.stream), (ty::DATA, flag::END_STREAM, 1));
    assert_eq!(f[1].1, body);
    let (_, id, _rx) = st.call(1, "3m", body, later()).unwrap();
    assert_eq!(id, Some(3), "client stream ids are odd and increasing");
}

#[test]
fn headers_data_in_two_and_trailers_complete_a_call() {
    let (mut st, mut r, mut srv) = (state(), Reader::new(), Server::new());
    let (_, _, mut rx) = st.call(1, "12000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let mut wire = srv.headers(1, 0, &[(":status", "200"), ("content-type", "application/grpc")]);
    wire.extend_from_slice(&frame_bytes(ty::DATA, 0, 1, b"\0\0\0\0\x04ab"));
    wire.extend_from_slice(&frame_bytes(ty::DATA, 0, 1, b"cd"));
    // Fed a byte at a time: frames split across reads are reassembled.
    let mut buf = BytesMut::new();
    for &b in wire.iter() {
        buf.put_u8(b);
        r.consume(&mut st, &mut buf).unwrap();
    }
    assert!(buf.is_empty());
    assert!(rx.try_recv().is_err(), "not ended before the trailers");
    let trailers = srv.headers(1, flag::END_STREAM, &[("grpc-status", "0")]);
    feed(&mut r, &mut st, &trailers).unwrap();
    let a = answer(&mut rx).unwrap();
    assert_eq!((a.status, a.grpc), (200, Some((0, String::new()))));
    assert_eq!(&a.body[..], b"\0\0\0\0\x04abcd");
    assert!(st.streams.is_empty());
}

#[test]
fn a_trailers_only_answer_carries_its_status_and_message() {
    let (mut st, mut r, mut srv) = (state(), Reader::new(), Server::new());
    let (_, _, mut rx) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let fields = [(":status", "200"), ("grpc-status", "5"), ("grpc-message", "no%20such topic")];
    feed(&mut r, &mut st, &srv.headers(1, flag::END_STREAM, &fields)).unwrap();
    let a = answer(&mut rx).unwrap();
    assert_eq!(a.grpc, Some((5, "no such topic".to_string())));
    assert!(a.body.is_empty());
}

#[test]
fn rst_stream_fails_the_call_only() {
    let (mut st, mut r, mut srv) = (state(), Reader::new(), Server::new());
    let (_, _, mut rx1) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let (_, _, mut rx3) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    feed(&mut r, &mut st, &frame_bytes(ty::RST_STREAM, 0, 1, &[0, 0, 0, 2])).unwrap();
    let e = answer(&mut rx1).unwrap_err();
    assert!(e.contains("reset by the server (code 2)"), "{e}");
    assert!(rx3.try_recv().is_err());
    let mut wire = srv.headers(3, 0, &[(":status", "200")]);
    wire.extend_from_slice(&srv.headers(3, flag::END_STREAM, &[("grpc-status", "0")]));
    feed(&mut r, &mut st, &wire).unwrap();
    assert!(answer(&mut rx3).is_ok());
}

#[test]
fn settings_ping_and_continuation() {
    let (mut st, mut r, mut srv) = (state(), Reader::new(), Server::new());
    let mut s = BytesMut::new();
    frame::put_settings(&mut s, &[(setting::MAX_FRAME_SIZE, 20_000), (0x99, 7)]);
    feed(&mut r, &mut st, &s).unwrap();
    feed(&mut r, &mut st, &frame_bytes(ty::PING, 0, 0, b"12345678")).unwrap();
    feed(&mut r, &mut st, &frame_bytes(ty::PING, flag::ACK, 0, b"87654321")).unwrap();
    let f = frames(&st.out);
    assert_eq!(f.len(), 2, "a SETTINGS ack and one PING ack");
    assert_eq!((f[0].0.ty, f[0].0.flags, f[0].0.len), (ty::SETTINGS, flag::ACK, 0));
    assert_eq!((f[1].0.ty, f[1].0.flags, &f[1].1[..]), (ty::PING, flag::ACK, &b"12345678"[..]));
    assert_eq!(st.max_frame, 20_000);
    st.out.clear();
    // A header block in HEADERS + CONTINUATION + CONTINUATION, an unknown frame type after.
    let (_, _, mut rx) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let block = srv.enc.encode([(&b":status"[..], &b"200"[..]), (b"grpc-status", b"0")]);
    let (a, rest) = block.split_at(2);
    let (b, c) = rest.split_at(1);
    let mut wire = frame_bytes(ty::HEADERS, flag::END_STREAM, 1, a);
    wire.extend_from_slice(&frame_bytes(ty::CONTINUATION, 0, 1, b));
    wire.extend_from_slice(&frame_bytes(ty::CONTINUATION, flag::END_HEADERS, 1, c));
    wire.extend_from_slice(&frame_bytes(0xfa, 0, 0, b"whatever"));
    feed(&mut r, &mut st, &wire).unwrap();
    assert_eq!(answer(&mut rx).unwrap().grpc, Some((0, String::new())));
    // Another frame inside a header block is a connection error.
    let (_, _, _rx) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let mut wire =
        frame_bytes(ty::HEADERS, 0, 3, &srv.enc.encode([(&b":status"[..], &b"200"[..])]));
    wire.extend_from_slice(&frame_bytes(ty::PING, 0, 0, b"12345678"));
    assert!(feed(&mut r, &mut st, &wire).unwrap_err().contains("not continued"));
}

#[test]
fn sends_respect_the_servers_windows_and_frame_size() {
    let (mut st, mut r) = (state(), Reader::new());
    let mut s = BytesMut::new();
    frame::put_settings(&mut s, &[(setting::INITIAL_WINDOW_SIZE, 10)]);
    feed(&mut r, &mut st, &s).unwrap();
    st.out.clear();
    let body: Bytes = (0..25u8).collect::<Vec<_>>().into();
    let (_, _, _rx) = st.call(0, "10000m", body.clone(), later()).unwrap();
    let data = |st: &mut State| -> Vec<(u8, Vec<u8>)> {
        let f = frames(&st.out);
        st.out.clear();
        f.into_iter().filter(|(h, _)| h.ty == ty::DATA).map(|(h, p)| (h.flags, p)).collect()
    };
    assert_eq!(data(&mut st), vec![(0, body[..10].to_vec())]);
    feed(&mut r, &mut st, &frame_bytes(ty::WINDOW_UPDATE, 0, 1, &[0, 0, 0, 4])).unwrap();
    assert_eq!(data(&mut st), vec![(0, body[10..14].to_vec())]);
    // A larger initial window moves the open stream's window too (§6.9.2).
    let mut s = BytesMut::new();
    frame::put_settings(&mut s, &[(setting::INITIAL_WINDOW_SIZE, 100)]);
    feed(&mut r, &mut st, &s).unwrap();
    assert_eq!(data(&mut st), vec![(flag::END_STREAM, body[14..].to_vec())]);
    // The connection window: 65,535 minus the 25 bytes sent; a larger body waits for it.
    assert_eq!(st.send_window, 65_535 - 25);
    let mut s = BytesMut::new();
    frame::put_settings(&mut s, &[(setting::INITIAL_WINDOW_SIZE, 1 << 20)]);
    feed(&mut r, &mut st, &s).unwrap();
    st.out.clear();
    let big: Bytes = vec![7u8; 70_000].into();
    let (_, _, _rx) = st.call(0, "10000m", big, later()).unwrap();
    let sent: Vec<usize> = data(&mut st).iter().map(|(_, p)| p.len()).collect();
    assert_eq!(sent, vec![16_384, 16_384, 16_384, 16_358], "split at the frame size");
    assert_eq!(st.send_window, 0);
    feed(&mut r, &mut st, &frame_bytes(ty::WINDOW_UPDATE, 0, 0, &[0, 1, 0, 0])).unwrap();
    let last = data(&mut st);
    assert_eq!(last.iter().map(|(_, p)| p.len()).sum::<usize>(), 70_000 - 65_510);
    assert_eq!(last.last().unwrap().0, flag::END_STREAM);
}

#[test]
fn received_data_is_given_back_to_the_server() {
    let (mut st, mut r, mut srv) = (state(), Reader::new(), Server::new());
    let (_, _, _rx) = st.call(1, "12000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    feed(&mut r, &mut st, &srv.headers(1, 0, &[(":status", "200")])).unwrap();
    st.out.clear();
    let chunk = vec![0u8; 16_384];
    let n = (STREAM_WINDOW / 2) as usize / chunk.len();
    for _ in 0..n {
        feed(&mut r, &mut st, &frame_bytes(ty::DATA, 0, 1, &chunk)).unwrap();
    }
    let f = frames(&st.out);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].0.ty, f[0].0.stream), (ty::WINDOW_UPDATE, 1));
    assert_eq!(u32::from_be_bytes(f[0].1[..].try_into().unwrap()), STREAM_WINDOW / 2);
    // The connection's window: counted on every stream, even one no longer open.
    st.out.clear();
    st.fail(1, Some(code::CANCEL), "gave up".into());
    for _ in n..(CONN_WINDOW / 2) as usize / chunk.len() {
        feed(&mut r, &mut st, &frame_bytes(ty::DATA, 0, 1, &chunk)).unwrap();
    }
    let f = frames(&st.out);
    assert_eq!((f.last().unwrap().0.ty, f.last().unwrap().0.stream), (ty::WINDOW_UPDATE, 0));
}

#[test]
fn max_concurrent_streams_queues_calls() {
    let (mut st, mut r, mut srv) = (state(), Reader::new(), Server::new());
    let mut s = BytesMut::new();
    frame::put_settings(&mut s, &[(setting::MAX_CONCURRENT_STREAMS, 1)]);
    feed(&mut r, &mut st, &s).unwrap();
    let (_, id1, mut rx1) =
        st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let (t2, id2, _rx2) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let (_, id3, mut rx3) =
        st.call(2, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    assert_eq!((id1, id2, id3), (Some(1), None, None));
    assert_eq!(st.queued_len(), 2);
    st.cancel(t2, None); // the second caller timed out while waiting
    let wire = srv.headers(1, flag::END_STREAM, &[(":status", "200"), ("grpc-status", "0")]);
    feed(&mut r, &mut st, &wire).unwrap();
    assert!(answer(&mut rx1).is_ok());
    // The third call got stream 3 once the first ended.
    assert_eq!(st.streams.keys().copied().collect::<Vec<_>>(), vec![3]);
    let wire = srv.headers(3, flag::END_STREAM, &[(":status", "200"), ("grpc-status", "0")]);
    feed(&mut r, &mut st, &wire).unwrap();
    assert!(answer(&mut rx3).is_ok());
}

#[test]
fn goaway_fails_the_unprocessed_calls_and_later_ones() {
    let (mut st, mut r, mut srv) = (state(), Reader::new(), Server::new());
    let (_, _, mut rx1) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    let (_, _, mut rx3) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    feed(&mut r, &mut st, &frame_bytes(ty::GOAWAY, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0])).unwrap();
    assert!(answer(&mut rx3).unwrap_err().contains("GOAWAY"));
    assert!(st.call(0, "10000m", Bytes::new(), later()).unwrap_err().contains("GOAWAY"));
    let wire = srv.headers(1, flag::END_STREAM, &[(":status", "200"), ("grpc-status", "0")]);
    feed(&mut r, &mut st, &wire).unwrap();
    assert!(answer(&mut rx1).is_ok(), "a stream below the last id still completes");
}

#[test]
fn protocol_errors_are_connection_errors() {
    for (wire, what) in [
        (frame_bytes(ty::DATA, 0, 5, b"x"), "idle stream"),
        (frame_bytes(ty::PUSH_PROMISE, flag::END_HEADERS, 1, &[0, 0, 0, 2]), "PUSH_PROMISE"),
        (frame_bytes(ty::WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]), "WINDOW_UPDATE of 0"),
        (frame_bytes(ty::SETTINGS, 0, 0, &[0, 5, 0, 0, 0, 1]), "MAX_FRAME_SIZE 1"),
        (frame_bytes(ty::PING, 0, 1, b"12345678"), "on stream 1"),
        (frame_bytes(ty::HEADERS, flag::END_HEADERS, 1, &[0xff, 0xff]), "HPACK"),
    ] {
        let (mut st, mut r) = (state(), Reader::new());
        let (_, _, _rx) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
        let e = feed(&mut r, &mut st, &wire).unwrap_err();
        assert!(e.contains(what), "{e} (want {what})");
    }
    let (mut st, mut r) = (state(), Reader::new());
    let big = frame_bytes(ty::DATA, 0, 1, &vec![0; 16_385]);
    assert!(feed(&mut r, &mut st, &big[..HEAD_LEN]).unwrap_err().contains("16385 bytes"));
}

// --- through the tasks, over an in-memory stream ---

/// A client over a duplex stream; the server's end.
fn client() -> (Conn, tokio::io::DuplexStream) {
    let (c, s) = tokio::io::duplex(1 << 20);
    let (rd, wr) = tokio::io::split(c);
    let extra = [("x-mq-language", "RUST")];
    let h = Headers { authority: "test:1", extra: &extra, usual_timeout: Duration::from_secs(10) };
    (Conn::start(rd, wr, &PATHS, h), s)
}

/// Read from the server's end until `n` HEADERS frames arrived (after the preface); the
/// stream ids and every frame seen.
async fn read_requests(s: &mut tokio::io::DuplexStream, n: usize) -> (Vec<u32>, Vec<Head>) {
    let mut buf = vec![0u8; frame::PREFACE.len()];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, frame::PREFACE);
    let (mut ids, mut seen) = (Vec::new(), Vec::new());
    while ids.len() < n {
        let mut h = [0u8; HEAD_LEN];
        s.read_exact(&mut h).await.unwrap();
        let h = Head::parse(&h);
        let mut p = vec![0u8; h.len];
        s.read_exact(&mut p).await.unwrap();
        if h.ty == ty::HEADERS {
            ids.push(h.stream);
        }
        seen.push(h);
    }
    (ids, seen)
}

#[tokio::test]
async fn calls_over_a_connection_and_its_end() {
    let (conn, mut s) = client();
    let conn = std::sync::Arc::new(conn);
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let c = conn.clone();
            tokio::spawn(async move {
                c.call(i % 3, Bytes::from_static(b"\0\0\0\0\0"), Duration::from_secs(10)).await
            })
        })
        .collect();
    let (ids, seen) = read_requests(&mut s, 3).await;
    assert_eq!(seen[0].ty, ty::SETTINGS, "SETTINGS right after the preface");
    assert_eq!(seen[1].ty, ty::WINDOW_UPDATE);
    let mut srv = Server::new();
    let mut wire = frame_bytes(ty::SETTINGS, 0, 0, &[]);
    wire.extend_from_slice(&srv.headers(ids[0], 0, &[(":status", "200")]));
    wire.extend_from_slice(&frame_bytes(ty::DATA, 0, ids[0], b"\0\0\0\0\x01z"));
    wire.extend_from_slice(&srv.headers(ids[0], flag::END_STREAM, &[("grpc-status", "0")]));
    let fields = [(":status", "200"), ("grpc-status", "5"), ("grpc-message", "not%20found")];
    wire.extend_from_slice(&srv.headers(ids[1], flag::END_STREAM, &fields));
    s.write_all(&wire).await.unwrap();
    let mut results = Vec::new();
    for c in calls {
        // The third call is still pending: answered by the connection's end below.
        if results.len() == 2 {
            drop(s);
            results.push(c.await.unwrap());
            break;
        }
        results.push(c.await.unwrap());
    }
    let by_id = |id: u32| &results[(id as usize - 1) / 2];
    assert_eq!(&by_id(ids[0]).as_ref().unwrap()[..], b"\0\0\0\0\x01z");
    let e = by_id(ids[1]).as_ref().unwrap_err().to_string();
    assert!(e.ends_with("answered gRPC status 5: not found"), "{e}");
    let e = by_id(ids[2]).as_ref().unwrap_err().to_string();
    assert!(e.contains("connection closed by the server"), "{e}");
    // Later calls fail at once.
    let t = std::time::Instant::now();
    let e = conn.call(0, Bytes::new(), Duration::from_secs(10)).await.unwrap_err();
    assert!(e.to_string().contains("connection closed"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_timed_out_call_is_reset() {
    let (conn, mut s) = client();
    let e = conn.call(1, Bytes::from_static(b"\0\0\0\0\0"), Duration::from_millis(50)).await;
    assert!(e.unwrap_err().to_string().ends_with("/svc/Receive timed out"));
    let (ids, _) = read_requests(&mut s, 1).await;
    // The DATA, then the RST_STREAM (CANCEL).
    let mut rest = [0u8; 2 * HEAD_LEN + 5 + 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut rest)).await.unwrap().unwrap();
    let rst = Head::parse(&rest[HEAD_LEN + 5..]);
    assert_eq!((rst.ty, rst.stream), (ty::RST_STREAM, ids[0]));
    assert_eq!(&rest[2 * HEAD_LEN + 5..], &code::CANCEL.to_be_bytes());
}

#[test]
fn calls_past_their_deadline_fail_and_are_reset() {
    let mut st = state();
    let now = Instant::now();
    let (_, _, mut rx1) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), now).unwrap();
    let (_, _, mut rx3) = st.call(0, "10000m", Bytes::from_static(b"\0\0\0\0\0"), later()).unwrap();
    st.out.clear();
    st.expire(now);
    for (tx, d) in st.done.drain(..) {
        let _ = tx.send(d);
    }
    assert_eq!(answer(&mut rx1).unwrap_err(), super::state::TIMED_OUT);
    assert!(rx3.try_recv().is_err());
    let f = frames(&st.out);
    assert_eq!((f[0].0.ty, f[0].0.stream), (ty::RST_STREAM, 1));
    assert_eq!(f[0].1, code::CANCEL.to_be_bytes());
}
