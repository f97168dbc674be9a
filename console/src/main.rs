//! `mqconsole`: the rmq web console (default `0.0.0.0:8180`).
//!
//! ```text
//! mqconsole -n 127.0.0.1:9876                 # reads open, writes need the admin login
//! mqconsole -c conf/console.conf --listen 127.0.0.1:8180
//! ```
//! The default listen address is `0.0.0.0:8180` (all interfaces, like Apache's dashboard);
//! pass `--listen 127.0.0.1:8180` to keep it local.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use mq_console::auth::Auth;
use mq_console::backend::{fake::FakeBackend, remote::RemoteBackend, Backend};
use mq_console::config::{split_addrs, Settings};
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
    /// Java-properties config file (keys: rocketmq.config.namesrvAddrs, loginRequired,
    /// adminPassword, readOnlyOpen, dataPath, sampleIntervalSecs, brokerTimeoutMillis).
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let mut settings = Settings::default();
    if let Some(path) = &cli.config {
        for w in settings.load_file(path).with_context(|| format!("loading {}", path.display()))? {
            tracing::warn!("{w}");
        }
    }
    if let Some(n) = &cli.namesrv {
        let addrs = split_addrs(n);
        anyhow::ensure!(
            !addrs.is_empty(),
            "--namesrv / NAMESRV_ADDR is empty; use host:port[;host:port]"
        );
        settings.namesrv = addrs;
    }
    if let Some(l) = &cli.listen {
        settings.listen = l.clone();
    }
    if let Some(d) = &cli.data_path {
        settings.data_path = d.clone();
    }
    let listen: SocketAddr = settings
        .listen
        .parse()
        .with_context(|| format!("bad listen address {:?}", settings.listen))?;

    let setup = Auth::load(
        &settings.data_path,
        settings.admin_password.as_deref(),
        settings.session_ttl,
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
            settings.namesrv.clone(),
            settings.broker_timeout,
            settings.cache_ttl,
        ))
    };
    let sampler = Arc::new(Sampler::new(settings.sample_interval));
    let sampler_task = sampler.spawn(backend.clone());
    let state = AppState {
        backend,
        auth: Arc::new(setup.auth),
        sampler,
        metrics: Arc::new(Metrics::default()),
        request_timeout: settings.broker_timeout * 4,
        namesrv: settings.namesrv.clone(),
    };
    let app = mq_console::router(state).layer(tower_http::trace::TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, namesrv = ?settings.namesrv, reads_open = settings.reads_open(), "mqconsole listening");
    mq_common::http::serve(listener, app, settings.http, shutdown_signal()).await;
    sampler_task.abort();
    tracing::info!("mqconsole stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
