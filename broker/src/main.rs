//! `mqbroker -c conf/broker.conf [-n addr] [-p] [-m] [--truncate-to OFFSET]`.
#![forbid(unsafe_code)]

use mq_common::shutdown::Signals;
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
    /// SLAVE only: before starting, cut the store back to the last record boundary at or below
    /// OFFSET (a diverged slave: its status `haDivergedAt`; docs/replication.md).
    #[arg(long = "truncate-to", value_name = "OFFSET")]
    truncate_to: Option<i64>,
}

fn main() -> anyhow::Result<()> {
    // LOG_LEVEL/RUST_LOG, LOG_FORMAT=json, LOG_FILE_PATH (rotated): see mq_common::logging.
    mq_common::logging::init_from_env("mqbroker", "info", mq_common::logging::LogTarget::Stdout);
    let args = Args::parse();
    let mut cli = Vec::new();
    for s in &args.set {
        let (k, v) =
            s.split_once('=').with_context(|| format!("--set expects key=value, got '{s}'"))?;
        cli.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(n) = &args.namesrv {
        cli.push(("namesrvAddr".into(), n.clone()));
    }
    let mut cfg = BrokerConfig::default();
    let warnings = load_config(&mut cfg, args.config.as_deref(), &cli)?;
    cfg.config_file = args.config.clone();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if args.print_all || args.print_important {
        print!("{}", mq_common::config::render_config(&cfg, !args.print_all));
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some(offset) = args.truncate_to {
        let t = rt
            .block_on(async { mq_broker::ha::truncate::truncate_slave_store(&cfg, offset) })
            .map_err(|e| anyhow::anyhow!(e))?;
        println!("commit log truncated from {} to {}", t.from, t.to);
    }
    rt.block_on(async move {
        let mut signals = Signals::install().context("installing the signal handlers")?;
        let controller = BrokerController::start(cfg).await?;
        let signal = signals.recv().await;
        tracing::info!(signal, "shutting down");
        controller.shutdown().await;
        anyhow::Ok(())
    })
}
