//! TLS on remoting connections with rustls (docs/acl-protocol.md §12).
//!
//! Server side: [`TlsServer`] sniffs the first byte of each connection as Java does (0x16, a
//! TLS handshake record, starts TLS; anything else is plaintext unless `tlsMode=enforcing`)
//! and reloads its certificate and key when the files change. Client side: [`TlsClient`]
//! verifies the server against a CA file.
//!
//! A TLS connection is terminated by a small task that copies plaintext to and from a local
//! socket pair; the [`Channel`](super::Channel) runs on the other end of the pair exactly as
//! on a TCP socket, so the plaintext hot path (inline non-blocking writes, write coalescing)
//! is untouched and pays nothing for TLS being possible.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

use crate::config::{SecurityConfig, TlsMode};
use crate::log_limit::LogLimiter;

/// First byte of a TLS handshake record.
pub const TLS_HANDSHAKE_BYTE: u8 = 0x16;

/// How long a new connection may take to send its first byte and finish a TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(f))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// A rustls server configuration from a PEM certificate chain and a PEM private key.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    load_server_config_alpn(cert, key, &[])
}

/// [`load_server_config`] offering the ALPN protocols `alpn` (gRPC clients require `h2`).
fn load_server_config_alpn(
    cert: &Path,
    key: &Path,
    alpn: &[Vec<u8>],
) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = read_certs(cert)?;
    let f = std::fs::File::open(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let key_der: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut std::io::BufReader::new(f))
            .map_err(|e| format!("{}: {e}", key.display()))?
            .ok_or_else(|| format!("{}: no PEM private key in it", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("certificate {} / key {}: {e}", cert.display(), key.display()))?;
    cfg.alpn_protocols = alpn.to_vec();
    Ok(Arc::new(cfg))
}

/// Client-side TLS: the CA certificates a server must chain to.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// Trust the CA certificate(s) in the PEM file `ca`.
    pub fn from_ca_file(ca: &Path) -> Result<TlsClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(ca)? {
            roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClient { config: Arc::new(config) })
    }

    /// From the environment: `RMQ_TLS_CA=<pem file>` turns TLS on. `Err` when it is set
    /// but unusable (a client must not silently fall back to plaintext).
    pub fn from_env() -> Result<Option<TlsClient>, String> {
        match std::env::var_os(ENV_TLS_CA).filter(|v| !v.is_empty()) {
            Some(p) => TlsClient::from_ca_file(Path::new(&p)).map(Some),
            None => Ok(None),
        }
    }

    /// Connect TLS over `tcp` to `addr` (`host:port`; the host is what the certificate must
    /// name: an IP address SAN or a DNS name), then hand back the plaintext end.
    pub(crate) async fn connect(&self, addr: &str, tcp: TcpStream) -> std::io::Result<UnixStream> {
        let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_string()).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
            })?,
        };
        // As on a plaintext channel: a small frame must not wait for the peer's delayed ACK.
        tcp.set_nodelay(true)?;
        let tcp = BufReader::with_capacity(RELAY_BUF, tcp);
        let tls = TlsConnector::from(self.config.clone()).connect(name, tcp).await?;
        terminate(tls)
    }
}

/// Environment variable naming the CA file our clients trust; set, it turns TLS on.
pub const ENV_TLS_CA: &str = "RMQ_TLS_CA";

/// Buffer size of each direction of the TLS relay, and of the buffered reader under rustls.
///
/// rustls reads the socket at most 4 KiB at a time (and resizes its buffer around each
/// read); tokio's default relay buffer is 8 KiB. At 1 KiB messages that is a read syscall
/// every four messages and a relay hop every eight, which made TLS cost 40 % of the async256
/// rate (bench/RESULTS.md, "TLS cost"). With 64 KiB the relay moves a whole pipelined burst
/// per hop and rustls' small reads are served from memory. The price is memory: three such
/// buffers per TLS connection (192 KiB; 16 KiB measured no better within this VM's noise).
/// Plaintext connections have none.
const RELAY_BUF: usize = 64 * 1024;

/// Copy plaintext between a TLS stream and a fresh socket pair; the returned end carries the
/// connection's plaintext. The copier ends when either side closes.
fn terminate<S>(tls: S) -> std::io::Result<UnixStream>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = UnixStream::pair()?;
    tokio::spawn(async move {
        let (mut tls, mut ours) = (tls, ours);
        let _ = tokio::io::copy_bidirectional_with_sizes(&mut tls, &mut ours, RELAY_BUF, RELAY_BUF)
            .await;
    });
    Ok(theirs)
}

/// What to do with one accepted connection.
pub enum Accepted {
    /// Plaintext on the TCP socket itself.
    Plain(TcpStream),
    /// TLS, terminated: plaintext on this socket-pair end.
    Tls(UnixStream),
}

/// A TLS acceptor that follows its certificate and key files (the one way every rmq TLS
/// listener gets its certificate: remoting, gRPC, console and chat-gateway HTTPS). A task
/// polls both files' modification time and size, as Java's `FileWatchService` watches
/// `tlsServerCertPath` / `tlsServerKeyPath`; a changed pair is read once it has stayed
/// unchanged for [`crate::acl::SETTLE`] and, when the key matches the certificate, serves
/// every handshake from then on. Established connections keep the session they have. A
/// pair that cannot be used (unreadable, not PEM, key not matching) leaves the last good one
/// in force and logs why; the next change of either file is tried again.
pub struct ReloadingAcceptor {
    current: ArcSwap<TlsAcceptor>,
    /// ALPN protocols offered (none for remoting, `h2` for gRPC).
    alpn: Vec<Vec<u8>>,
}

impl std::fmt::Debug for ReloadingAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReloadingAcceptor")
    }
}

impl ReloadingAcceptor {
    /// Load `cert` + `key` (an error if they cannot be used) and check them every `every`
    /// until `stop` fires or the acceptor is dropped.
    pub fn start(
        cert: &Path,
        key: &Path,
        alpn: &[&[u8]],
        every: Duration,
        stop: CancellationToken,
    ) -> Result<Arc<ReloadingAcceptor>, String> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let first = TlsAcceptor::from(load_server_config_alpn(cert, key, &alpn)?);
        let acceptor = Arc::new(ReloadingAcceptor { current: ArcSwap::from_pointee(first), alpn });
        spawn_reloader(
            Arc::downgrade(&acceptor),
            cert.to_path_buf(),
            key.to_path_buf(),
            every,
            stop,
        );
        Ok(acceptor)
    }

    /// The acceptor for the next handshake.
    pub fn current(&self) -> Arc<TlsAcceptor> {
        self.current.load_full()
    }
}

/// The server side: mode and the certificate (reloaded when its files change).
pub struct TlsServer {
    mode: TlsMode,
    acceptor: Option<Arc<ReloadingAcceptor>>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsServer({:?}, certificate: {})", self.mode, self.acceptor.is_some())
    }
}

/// One warning per 10 s for refused or failed TLS connections.
static TLS_LOG: LogLimiter = LogLimiter::new(Duration::from_secs(10));

impl TlsServer {
    /// The server's TLS from its settings, or `None` when every connection is plaintext
    /// (`disabled`, or `permissive` without a certificate: a TLS hello then fails as a frame
    /// too large, which closes the connection as Java does). A certificate that cannot be
    /// loaded is an error. Certificate and key are re-read when they change until `stop`.
    pub fn from_config(
        cfg: &SecurityConfig,
        stop: CancellationToken,
    ) -> Result<Option<Arc<TlsServer>>, String> {
        Self::from_config_alpn(cfg, stop, &[], "remoting")
    }

    /// [`TlsServer::from_config`] for another protocol on the same settings: `alpn` is
    /// offered in the handshake (`h2` for the gRPC port), `what` names the port in the log.
    pub fn from_config_alpn(
        cfg: &SecurityConfig,
        stop: CancellationToken,
        alpn: &[&[u8]],
        what: &str,
    ) -> Result<Option<Arc<TlsServer>>, String> {
        let files = match (&cfg.tls_cert_path, &cfg.tls_key_path) {
            (Some(c), Some(k)) if cfg.tls_mode != TlsMode::Disabled => Some((c.clone(), k.clone())),
            _ => None,
        };
        let Some((cert, key)) = files else {
            if cfg.tls_mode == TlsMode::Enforcing {
                return Err("tlsMode=enforcing needs tlsCertPath and tlsKeyPath".into());
            }
            return Ok(None);
        };
        let acceptor =
            ReloadingAcceptor::start(&cert, &key, alpn, cfg.tls_reload_interval(), stop)?;
        tracing::info!(mode = ?cfg.tls_mode, cert = %cert.display(), port = what, "TLS on the port");
        Ok(Some(Arc::new(TlsServer { mode: cfg.tls_mode, acceptor: Some(acceptor) })))
    }

    /// Classify a new connection by its first byte and, for TLS, run the handshake. `None`:
    /// the connection was refused or failed (and is closed).
    pub async fn accept(&self, tcp: TcpStream, peer: SocketAddr) -> Option<Accepted> {
        let mut first = [0u8; 1];
        let n = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await {
            Ok(Ok(n)) => n,
            _ => return None,
        };
        if n == 0 {
            return None;
        }
        if first[0] != TLS_HANDSHAKE_BYTE {
            if self.mode == TlsMode::Enforcing {
                if let Some(suppressed) = TLS_LOG.allow() {
                    tracing::warn!(%peer, suppressed, "plaintext connection refused (tlsMode=enforcing)");
                }
                return None;
            }
            return Some(Accepted::Plain(tcp));
        }
        let acceptor = self.acceptor.as_ref()?.current();
        // As on a plaintext channel (Channel::spawn): no Nagle delay on small frames.
        if tcp.set_nodelay(true).is_err() {
            return None;
        }
        let tcp = BufReader::with_capacity(RELAY_BUF, tcp);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => terminate(tls).ok().map(Accepted::Tls),
            Ok(Err(e)) => {
                if let Some(suppressed) = TLS_LOG.allow() {
                    tracing::warn!(%peer, error = %e, suppressed, "TLS handshake failed");
                }
                None
            }
            Err(_) => None,
        }
    }
}

fn stamp(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn spawn_reloader(
    acceptor: std::sync::Weak<ReloadingAcceptor>,
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut last = (stamp(&cert), stamp(&key));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            // The listener is gone: so is the need to watch.
            if acceptor.strong_count() == 0 {
                return;
            }
            let now = (stamp(&cert), stamp(&key));
            if now == last {
                continue;
            }
            // Let the writer finish both files.
            tokio::time::sleep(crate::acl::SETTLE).await;
            if (stamp(&cert), stamp(&key)) != now {
                continue;
            }
            let Some(acceptor) = acceptor.upgrade() else { return };
            last = now;
            match load_server_config_alpn(&cert, &key, &acceptor.alpn) {
                Ok(cfg) => {
                    acceptor.current.store(Arc::new(TlsAcceptor::from(cfg)));
                    tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
                }
                // A half-replaced pair (new cert, old key) fails here; the next change of
                // either file is tried again.
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                }
            }
        }
    });
}
