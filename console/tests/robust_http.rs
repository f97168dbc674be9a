//! The `mqconsole` process against hostile HTTP use (issue 16): logout revokes the session
//! server-side, also across a restart (B10); half-sent requests are closed after the
//! header-read timeout and connections past the cap are refused at once (B11).
//!
//! Runs the real binary with its in-memory demo backend (no cluster needed).

use std::path::Path;
use std::time::Duration;

use mq_test_support::{
    anon_rss_bytes, ensure_bins, free_port, half_sent_requests, wait_until, Proc,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(10);

fn start_console(dir: &Path, port: u16, extra: &str) -> Proc {
    ensure_bins(&["mqconsole"]);
    let conf = dir.join("console.conf");
    std::fs::write(
        &conf,
        format!("adminPassword=pw\ndataPath={}\n{extra}", dir.join("data").display()),
    )
    .unwrap();
    Proc::spawn(
        dir,
        "console",
        "mqconsole",
        &[
            "-c".into(),
            conf.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--fake-backend".into(),
        ],
        &[],
    )
}

/// One request on its own connection: (status, body).
async fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("response in time").unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

async fn wait_healthy(port: u16) {
    wait_until("console /health", T * 6, || async move {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(_) => request(port, "GET", "/health", None, "").await.0 == 200,
            Err(_) => false,
        }
    })
    .await;
}

const CREATE: &str = r#"{"name":"RevokeT","readQueues":4,"writeQueues":4,"perm":6}"#;

/// B10: after logout the token no longer authorises writes, also after a console restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b10_logout_revokes_the_session_server_side() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut console = start_console(dir.path(), port, "");
    wait_healthy(port).await;
    let (code, body) = request(port, "POST", "/api/login", None, r#"{"password":"pw"}"#).await;
    assert_eq!(code, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    assert_eq!(request(port, "POST", "/api/topics", Some(&token), CREATE).await.0, 200);

    let (code, _) = request(port, "POST", "/api/logout", Some(&token), "").await;
    assert_eq!(code, 200);
    let after = request(port, "POST", "/api/topics", Some(&token), CREATE).await.0;
    eprintln!("robust B10: a write with the logged-out token: HTTP {after}");
    assert_eq!(after, 401);

    console.term(T);
    let mut console = start_console(dir.path(), port, "");
    wait_healthy(port).await;
    let restarted = request(port, "POST", "/api/topics", Some(&token), CREATE).await.0;
    eprintln!("robust B10: ... after a console restart: HTTP {restarted}");
    assert_eq!(restarted, 401);
    let (code, body) = request(port, "POST", "/api/login", None, r#"{"password":"pw"}"#).await;
    assert_eq!(code, 200, "a new login works: {body}");
    console.term(T);
}

/// B11: half-sent requests are closed after `httpHeaderTimeoutSecs`; past
/// `httpMaxConnections` a connection gets 503 at once; the console keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b11_half_sent_requests_are_closed_and_connections_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let console =
        start_console(dir.path(), port, "httpHeaderTimeoutSecs=2\nhttpMaxConnections=200\n");
    wait_healthy(port).await;
    let pid = console.pid().unwrap();
    let rss0 = anon_rss_bytes(pid);

    let probe = half_sent_requests(&format!("127.0.0.1:{port}"), 1000, T * 3).await;
    let rss1 = anon_rss_bytes(pid);
    eprintln!(
        "robust B11 (console): 1,000 half-sent requests: {probe:?}; anonymous RSS {:.1} -> {:.1} MiB",
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0
    );
    assert!(probe.within_cap(200, Duration::from_secs(2)), "{probe:?}");
    assert!(probe.slowest < T, "a half-sent request was held: {probe:?}");
    assert_eq!(request(port, "GET", "/health", None, "").await.0, 200);
}
