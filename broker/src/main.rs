//! `mqbroker -c conf/broker.conf [-n addr] [-p] [-m]`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use mq_broker::config::{load_config, BrokerConfig};
use mq_broker::BrokerController;

/// mimalloc: the request path allocates per header field (JSON ext fields, strings); glibc
/// malloc was ~20-30% of CPU in `perf` profiles of the send path (issue 7).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// rmq broker (RocketMQ-compatible).
#[derive(Parser, Debug)]
#[command(name = "mqbroker", version, about)]
struct Args {
    /// Broker config file (Java properties, Apache key names).
    #[arg(short = 'c', long = "configFile")]
    config: Option<PathBuf>,
    /// Nameserver address list `host:port;host:port` (overrides the file and NAMESRV_ADDR).
    #[arg(short = 'n', long = "namesrvAddr")]
    namesrv: Option<String>,
    /// Print all config items and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    print_all: bool,
    /// Print important config items and exit.
    #[arg(short = 'm', long = "printImportantConfig")]
    print_important: bool,
    /// Extra `key=value` settings applied last.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    // Plain text (no colour codes) when the log goes to a file, as with scripts' redirects.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt().with_ansi(ansi).with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())).init();
    let args = Args::parse();
    let mut cli = Vec::new();
    for s in &args.set {
        let (k, v) = s.split_once('=').with_context(|| format!("--set expects key=value, got '{s}'"))?;
        cli.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(n) = &args.namesrv {
        cli.push(("namesrvAddr".into(), n.clone()));
    }
    let mut cfg = BrokerConfig::default();
    let warnings = load_config(&mut cfg, args.config.as_deref(), &cli)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if args.print_all || args.print_important {
        for (k, v, important) in cfg.entries() {
            if args.print_all || important {
                println!("{k}={v}");
            }
        }
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        // Handlers first: a SIGTERM that arrives while the store is opening must still mean a
        // graceful shutdown (the default action would kill the process and leave `abort`).
        let signals = Signals::install();
        let controller = BrokerController::start(cfg).await?;
        signals.wait().await;
        tracing::info!("signal received, shutting down");
        controller.shutdown().await;
        anyhow::Ok(())
    })
}

/// SIGTERM / SIGINT streams, installed before the broker starts.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals { term: signal(SignalKind::terminate()).expect("SIGTERM handler"), int: signal(SignalKind::interrupt()).expect("SIGINT handler") }
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
