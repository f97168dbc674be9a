//! `mqconsole`: the rmq web console (default `0.0.0.0:8180`).
//!
//! ```text
//! mqconsole -n 127.0.0.1:9876                 # reads open, writes need the admin login
//! mqconsole -c conf/console.conf --listen 127.0.0.1:8180
//! ```
//! The default listen address is `0.0.0.0:8180` (all interfaces, like Apache's dashboard);
//! pass `--listen 127.0.0.1:8180` to keep it local.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mq_common::config::load_layered;
use mq_common::shutdown::Signals;
use mq_console::auth::Auth;
use mq_console::backend::{fake::FakeBackend, remote::RemoteBackend, Backend};
use mq_console::config::{Settings, ENV_PREFIX};
use mq_console::metrics::Metrics;
use mq_console::sampler::Sampler;
use mq_console::state::AppState;

#[derive(Parser, Debug)]
#[command(name = "mqconsole", version, about = "rmq web console")]
struct Cli {
    /// HTTP listen address [default: 0.0.0.0:8180, or `listen` / `server.port` from the config].
    #[arg(long)]
    listen: Option<String>,
    /// Nameserver address(es), `a:9876;b:9876` [env: NAMESRV_ADDR].
    #[arg(short = 'n', long = "namesrv", env = "NAMESRV_ADDR")]
    namesrv: Option<String>,
    /// Java-properties config file (keys: rocketmq.config.namesrvAddrs, readRequiresLogin,
    /// adminPassword, readOnlyOpen, dataPath, tlsCertPath, tlsKeyPath, loginMaxFailures,
    /// loginFailureWindowSecs, loginLockoutSecs, ...; see console/README.md).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Directory for the admin password hash and session key.
    #[arg(long)]
    data_path: Option<PathBuf>,
    /// Serve an in-memory demo cluster instead of connecting (UI smoke tests).
    #[arg(long, hide = true)]
    fake_backend: bool,
    /// With --fake-backend: make this fake broker fail (to see partial-failure notes).
    #[arg(long, hide = true, requires = "fake_backend")]
    fake_failing_broker: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // LOG_LEVEL/RUST_LOG, LOG_FORMAT=json, LOG_FILE_PATH (rotated): see mq_common::logging.
    mq_common::logging::init_from_env("mqconsole", "info", mq_common::logging::LogTarget::Stdout);
    let cli = Cli::parse();
    let signals = Signals::install().context("installing the signal handlers")?;
    let mut settings = Settings::default();
    let mut cli_sets = Vec::new();
    if let Some(n) = &cli.namesrv {
        cli_sets.push(("namesrvAddr".to_string(), n.clone()));
    }
    if let Some(l) = &cli.listen {
        // An explicit --listen wins over a `server.port` from the file.
        cli_sets.push(("listen".to_string(), l.clone()));
        cli_sets.push(("server.port".to_string(), String::new()));
    }
    if let Some(d) = &cli.data_path {
        cli_sets.push(("dataPath".to_string(), d.display().to_string()));
    }
    for w in load_layered(&mut settings, cli.config.as_deref(), ENV_PREFIX, &cli_sets)? {
        tracing::warn!("{w}");
    }
    let listen_addr = settings.listen_addr();
    let listen: SocketAddr =
        listen_addr.parse().with_context(|| format!("bad listen address {listen_addr:?}"))?;

    let tls = settings.tls_files().map_err(anyhow::Error::msg)?;
    let setup = Auth::load(
        &settings.data_path,
        settings.admin_password.as_deref(),
        settings.session_ttl(),
        settings.reads_open(),
    )
    .with_context(|| format!("preparing {}", settings.data_path.display()))?;
    if let Some(pw) = &setup.generated_password {
        eprintln!("================================================================");
        eprintln!(" mqconsole first start: generated admin password: {pw}");
        eprintln!(" (shown once; only its hash is kept in {})", settings.data_path.display());
        eprintln!(" set adminPassword in the config file to choose your own");
        eprintln!("================================================================");
    }

    let backend: Arc<dyn Backend> = if cli.fake_backend {
        tracing::warn!("using the in-memory fake backend (--fake-backend)");
        let fb = FakeBackend::demo();
        if let Some(b) = &cli.fake_failing_broker {
            fb.set_failing(b, true);
        }
        Arc::new(fb)
    } else {
        Arc::new(RemoteBackend::new(
            settings.namesrv.0.clone(),
            settings.broker_timeout(),
            settings.cache_ttl(),
        ))
    };
    let sampler = Arc::new(Sampler::new(settings.sample_interval()));
    let sampler_task = sampler.spawn(backend.clone());
    let state = AppState {
        backend,
        auth: Arc::new(setup.auth),
        sampler,
        metrics: Arc::new(Metrics::default()),
        request_timeout: settings.broker_timeout() * 4,
        namesrv: settings.namesrv.0.clone(),
        login_limiter: Arc::new(settings.login_limiter()),
        https: tls.is_some(),
    };
    let app = mq_console::router(state).layer(tower_http::trace::TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %local, scheme, namesrv = ?settings.namesrv.0, reads_open = settings.reads_open(), "mqconsole listening");
    // The peer address is kept per request (mq_common::http::serve adds it): the login
    // lockout and the audit log use it.
    match &tls {
        Some((cert, key)) => {
            let every =
                std::time::Duration::from_millis(settings.tls_reload_interval_millis.max(10));
            let tls = mq_common::http::TlsListener::bind(listener, cert, key, every)
                .map_err(|e| anyhow::anyhow!("console TLS: {e}"))?;
            mq_common::http::serve(tls, app, settings.http_limits(), shutdown_signal(signals)).await
        }
        None => {
            mq_common::http::serve(listener, app, settings.http_limits(), shutdown_signal(signals))
                .await
        }
    }
    sampler_task.abort();
    tracing::info!("mqconsole stopped");
    Ok(())
}

async fn shutdown_signal(mut signals: Signals) {
    let signal = signals.recv().await;
    tracing::info!(signal, "shutting down");
}
