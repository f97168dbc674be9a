//! T17: hostile clients against the chat gateway and the presence service (issue 16):
//! WebSocket protocol violations get their RFC 6455 close codes (B12), a socket that answers
//! pings but never logs in is closed after `LOGIN_TIMEOUT` (R6), and half-sent HTTP requests
//! are closed after `HTTP_HEADER_TIMEOUT` with connections past `MAX_HTTP_CONNECTIONS` refused
//! at once, on the gateway and on presence-service (B11).

mod presence_support;

use std::time::{Duration, Instant};

use chat_e2e::{serial, wait_until, Cluster, ClusterOpts, DdpClient};
use mq_test_support::half_sent_requests;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(10);

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A raw WebSocket: the upgrade done by hand, so the test can send frames no client library
/// would (unmasked, oversized, not UTF-8, reserved bits set).
async fn raw_ws(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tokio::time::timeout(T, s.read_exact(&mut b)).await.expect("upgrade answer").unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// A client frame: FIN + `opcode`, masked (unless `masked` is false) with a fixed key.
fn frame(first_byte: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![first_byte];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// Read server frames until a close frame; its code (None if the socket just ended).
async fn close_code(s: &mut TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let end = tokio::time::Instant::now() + T;
    loop {
        // Parse what we have: server frames are unmasked.
        let mut at = 0;
        while buf.len() >= at + 2 {
            let (op, len7) = (buf[at] & 0x0F, (buf[at + 1] & 0x7F) as usize);
            let (hdr, len) = match len7 {
                126 if buf.len() >= at + 4 => {
                    (4, u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize)
                }
                127 if buf.len() >= at + 10 => {
                    (10, u64::from_be_bytes(buf[at + 2..at + 10].try_into().unwrap()) as usize)
                }
                126 | 127 => break,
                n => (2, n),
            };
            if buf.len() < at + hdr + len {
                break;
            }
            if op == 0x8 {
                let p = &buf[at + hdr..at + hdr + len];
                return (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
            }
            at += hdr + len;
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(end, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t17_gateway_and_presence_against_hostile_clients() {
    let _g = serial();
    let gateway_env = env(&[
        ("LOGIN_TIMEOUT", "2"),
        ("HTTP_HEADER_TIMEOUT", "1"),
        ("MAX_HTTP_CONNECTIONS", "50"),
    ]);
    let c = Cluster::start(ClusterOpts {
        gateways: 1,
        observers: 0,
        gateway_env,
        ..Default::default()
    })
    .await;
    let gw = c.gw(0).addr();

    // B12: protocol violations and their close codes.
    let too_big = vec![b'x'; (1 << 20) + 1];
    for (what, bytes, want) in [
        ("a 1 MiB + 1 text message", frame(0x81, &too_big, true), 1009),
        ("an unmasked client frame", frame(0x81, b"hello", false), 1002),
        ("reserved bits set", frame(0xF1, b"hello", true), 1002),
        ("a text frame that is not UTF-8", frame(0x81, &[0xff, 0xfe, 0xfd], true), 1007),
    ] {
        let mut s = raw_ws(&gw).await;
        s.write_all(&bytes).await.unwrap();
        let got = close_code(&mut s).await;
        eprintln!("robust B12: {what}: close code {got:?}");
        assert_eq!(got, Some(want), "{what}");
    }

    // R6: a socket that answers pings but never logs in is closed with 1008; a logged-in one
    // is not.
    let anon = DdpClient::connect(&c.gw(0).ws_url()).await.unwrap();
    let user = DdpClient::login(&c.gw(0).ws_url(), &c.token("r6user")).await.unwrap();
    let t0 = Instant::now();
    wait_until("the anonymous socket to be closed", T, || async { anon.close_code().is_some() })
        .await;
    eprintln!(
        "robust R6: a socket never logging in closed with {:?} after {:?} (LOGIN_TIMEOUT 2 s)",
        anon.close_code(),
        t0.elapsed()
    );
    assert_eq!(anon.close_code(), Some(1008));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(user.close_code(), None, "the logged-in socket stays");

    // B11 on the gateway.
    let probe = half_sent_requests(&gw, 300, T * 3).await;
    eprintln!(
        "robust B11 (gateway): 300 half-sent requests, cap 50, header timeout 1 s: {probe:?}"
    );
    assert!(probe.within_cap(50, Duration::from_secs(1)), "{probe:?}");
    assert!(probe.slowest < T, "{probe:?}");
    assert!(matches!(chat_e2e::proc::http_get(&gw, "/health"), Ok((200, _))));

    // B11 on presence-service (which also guards its status API with a token).
    let p = presence_support::spawn_presence(
        &c,
        None,
        &[
            ("HTTP_HEADER_TIMEOUT", "1"),
            ("MAX_HTTP_CONNECTIONS", "50"),
            ("STATUS_API_TOKEN", "status-secret"),
        ],
    )
    .await;
    // STATUS_API_TOKEN: who is online is shown only to the token's holder.
    use chat_e2e::proc::http_get_bearer;
    for path in ["/v1/stats", "/v1/status/u1", "/v1/status?uids=u1,u2"] {
        let anon = http_get_bearer(&p.addr(), path, None).unwrap();
        let wrong = http_get_bearer(&p.addr(), path, Some("status-secreT")).unwrap();
        let right = http_get_bearer(&p.addr(), path, Some("status-secret")).unwrap();
        eprintln!("presence {path}: no token {}, wrong {}, right {}", anon.0, wrong.0, right.0);
        assert_eq!((anon.0, wrong.0, right.0), (401, 401, 200), "{path}: {}", right.1);
        assert!(!anon.1.contains("online"), "{}", anon.1);
    }
    for open in ["/health", "/ready", "/metrics"] {
        assert_eq!(http_get_bearer(&p.addr(), open, None).unwrap().0, 200, "{open} stays open");
    }
    let probe = half_sent_requests(&p.addr(), 300, T * 3).await;
    eprintln!(
        "robust B11 (presence): 300 half-sent requests, cap 50, header timeout 1 s: {probe:?}"
    );
    assert!(probe.within_cap(50, Duration::from_secs(1)), "{probe:?}");
    assert!(probe.slowest < T, "{probe:?}");
    assert!(matches!(chat_e2e::proc::http_get(&p.addr(), "/health"), Ok((200, _))));
}
