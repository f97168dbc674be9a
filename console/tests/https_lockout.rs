//! The `mqconsole` process served over HTTPS (`tlsCertPath`/`tlsKeyPath`) with
//! `readRequiresLogin` and a short configured login lockout (issue 21): plaintext gets no
//! answer, every read (message bodies included) needs a session, the session cookie is
//! `Secure`, repeated wrong passwords lock the address out (429, even with the right
//! password) and the right password works again once `loginLockoutSecs` has passed; a
//! replaced certificate serves new connections without a restart while an open one keeps
//! working.
//!
//! Runs the real binary with its in-memory demo backend (no cluster needed).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_test_support::{ensure_bins, free_port, make_test_certs, wait_until, Proc};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsConnector;

const T: Duration = Duration::from_secs(10);
/// Wrong passwords that start a lockout, and how long it lasts (console.conf below).
const MAX_FAILURES: usize = 3;
const LOCKOUT: Duration = Duration::from_secs(2);

fn connector(ca: &Path) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

/// One parsed response: status, headers (lower-cased names), body.
struct Resp {
    status: u16,
    head: String,
    body: String,
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Resp {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    // rustls reports a peer that closes without close_notify as an error; what was read
    // before it is the whole response (Connection: close).
    let _ = tokio::time::timeout(T, s.read_to_end(&mut out)).await.expect("response in time");
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Resp {
        status: head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0),
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// One HTTPS request on its own connection.
async fn https(
    tls: &TlsConnector,
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Resp {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name =
        rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let s = tls.connect(name, tcp).await.expect("TLS handshake with the console");
    exchange(s, method, path, token, body).await
}

fn login_body(pw: &str) -> String {
    format!(r#"{{"password":"{pw}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_read_login_and_configured_lockout() {
    ensure_bins(&["mqconsole"]);
    let dir = tempfile::tempdir().unwrap();
    let certs = make_test_certs(dir.path(), "console");
    // The console reads its own copies, which the reload step replaces.
    let (cert, key) = (dir.path().join("served-cert.pem"), dir.path().join("served-key.pem"));
    std::fs::copy(&certs.cert, &cert).unwrap();
    std::fs::copy(&certs.key, &key).unwrap();
    let port = free_port();
    let conf = dir.path().join("console.conf");
    std::fs::write(
        &conf,
        format!(
            "adminPassword=pw\ndataPath={}\ntlsCertPath={}\ntlsKeyPath={}\nreadRequiresLogin=true\n\
             loginMaxFailures={MAX_FAILURES}\nloginFailureWindowSecs=60\nloginLockoutSecs={}\n\
             tlsReloadIntervalMillis=100\n",
            dir.path().join("data").display(),
            cert.display(),
            key.display(),
            LOCKOUT.as_secs()
        ),
    )
    .unwrap();
    let mut console = Proc::spawn(
        dir.path(),
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
    );
    let tls = connector(&certs.ca);
    let t = &tls;
    wait_until("console /health over HTTPS", T * 6, || async move {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(_) => https(t, port, "GET", "/health", None, "").await.status == 200,
            Err(_) => false,
        }
    })
    .await;

    // Plaintext HTTP gets no HTTP answer from an HTTPS-only console.
    let plain = exchange(
        TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
        "GET",
        "/health",
        None,
        "",
    )
    .await;
    assert_eq!(plain.status, 0, "plaintext answered: {}", plain.head);

    // readRequiresLogin: reads need a session.
    assert_eq!(https(t, port, "GET", "/api/topics", None, "").await.status, 401);
    assert_eq!(https(t, port, "GET", "/api/overview", None, "").await.status, 401);

    // Wrong passwords up to the limit, then even the right one is refused.
    for i in 0..MAX_FAILURES {
        let r = https(t, port, "POST", "/api/login", None, &login_body("wrong")).await;
        assert_eq!(r.status, 401, "wrong password #{i}: {}", r.body);
    }
    let locked_at = Instant::now();
    let r = https(t, port, "POST", "/api/login", None, &login_body("pw")).await;
    assert_eq!(r.status, 429, "locked out: {}", r.body);
    assert!(r.body.contains("too many failed logins"), "{}", r.body);

    // After loginLockoutSecs the right password works; the cookie is Secure under HTTPS.
    let ok = wait_until("login after the lockout", T * 3, || async move {
        let r = https(t, port, "POST", "/api/login", None, &login_body("pw")).await;
        match r.status {
            200 => Some(r),
            429 => None,
            s => panic!("unexpected HTTP {s} during the lockout: {}", r.body),
        }
    })
    .await;
    eprintln!(
        "console lockout ({} s configured) ended after {:.1} s",
        LOCKOUT.as_secs(),
        locked_at.elapsed().as_secs_f64()
    );
    let cookie = ok.head.lines().find(|l| l.starts_with("set-cookie:")).expect("a cookie");
    for attr in ["httponly", "samesite=strict", "; secure"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    let tok = Some(token.as_str());

    // With the session, reads work; message bodies need it too.
    assert_eq!(https(t, port, "GET", "/api/topics", tok, "").await.status, 200);
    let sent = https(
        t,
        port,
        "POST",
        "/api/topics/TopicTest/send",
        tok,
        r#"{"tags":"T","keys":"k-https","body":"secret body"}"#,
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let id = serde_json::from_str::<serde_json::Value>(&sent.body).unwrap()["msgId"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = format!("/api/messages/detail?topic=TopicTest&id={id}");
    let anon = https(t, port, "GET", &detail, None, "").await;
    assert_eq!(anon.status, 401);
    assert!(!anon.body.contains("secret body"));
    let d = https(t, port, "GET", &detail, tok, "").await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert!(d.body.contains("secret body"), "{}", d.body);

    // Certificate reload: an open connection, then the files replaced by another CA's pair;
    // new connections get the new certificate, the open one still works.
    let name =
        rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let open = tls.connect(name.clone(), tcp).await.expect("handshake before the reload");
    let other = make_test_certs(dir.path(), "console-next");
    std::fs::copy(&other.cert, &cert).unwrap();
    std::fs::copy(&other.key, &key).unwrap();
    let next = connector(&other.ca);
    let (n, nm) = (&next, &name);
    wait_until("the replaced certificate is served", T * 3, || async move {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        n.connect(nm.clone(), tcp).await.is_ok()
    })
    .await;
    assert_eq!(exchange(open, "GET", "/health", None, "").await.status, 200);
    console.term(T);
}
