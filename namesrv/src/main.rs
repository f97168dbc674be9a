//! `mqnamesrv`: the rmq name server.
//!
//! ```text
//! mqnamesrv [-c namesrv.conf] [-p | -m] [--listen HOST:PORT] [--set key=value]...
//! ```
//! Configuration precedence: defaults < `-c` file < `MQNAMESRV_*` environment < command line.
//! Logging: `mq_common::logging` (`LOG_LEVEL`/`RUST_LOG`, `LOG_FORMAT`, `LOG_FILE_PATH`), to
//! stdout by default. SIGINT/SIGTERM shut down gracefully.
#![forbid(unsafe_code)]

use mq_common::shutdown::Signals;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mq_common::config::{load_layered, parse_key_value, render_config};
use mq_common::logging::{LogSettings, LogTarget};
use mq_namesrv::config::{parse_listen, ENV_PREFIX};
use mq_namesrv::{NamesrvConfig, NamesrvController};

/// rmq name server: RocketMQ-compatible routing registry (default port 9876).
#[derive(Debug, Parser)]
#[command(name = "mqnamesrv", version, about)]
struct Args {
    /// Java-properties config file (Apache key names, e.g. conf/namesrv.conf).
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Print every config item (key=value) and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    print_config: bool,
    /// Print the important config items and exit.
    #[arg(short = 'm', long = "printImportantConfig")]
    print_important: bool,
    /// Name server address list: accepted for compatibility with Apache's scripts, ignored.
    #[arg(short = 'n', long = "namesrvAddr", value_name = "ADDR")]
    namesrv_addr: Option<String>,
    /// Listen address, HOST:PORT or PORT (sets bindAddress and listenPort).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_listen)]
    listen: Option<(String, u16)>,
    /// Set any config key (repeatable), e.g. --set scanNotActiveBrokerInterval=5000.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    sets: Vec<(String, String)>,
    /// Log format (overrides LOG_FORMAT; default text).
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
}

/// `mq_common::logging` (LOG_FORMAT, LOG_FILE_PATH, LOG_LEVEL/RUST_LOG); `--log-format` wins.
fn init_logging(format: Option<&str>) -> Result<(), String> {
    let mut s = LogSettings::from_env("info", LogTarget::Stdout)?;
    if let Some(f) = format {
        s.format = f.parse()?;
    }
    s.init()
}

fn load_config(args: &Args) -> Result<(NamesrvConfig, Vec<String>), String> {
    let mut cfg = NamesrvConfig::default();
    let mut cli = args.sets.clone();
    if let Some((host, port)) = &args.listen {
        cli.push(("bindAddress".into(), host.clone()));
        cli.push(("listenPort".into(), port.to_string()));
    }
    let warnings = load_layered(&mut cfg, args.config_file.as_deref(), ENV_PREFIX, &cli)
        .map_err(|e| e.to_string())?;
    cfg.config_file = args.config_file.clone();
    cfg.validate()?;
    Ok((cfg, warnings))
}

async fn run(config: NamesrvConfig) -> Result<(), String> {
    let mut signals = Signals::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let controller = NamesrvController::start(config).await.map_err(|e| e.to_string())?;
    // Apache prints this line; scripts and our tests wait for it (and read the address).
    println!(
        "The Name Server boot success. serializeType=JSON, listening on {}",
        controller.local_addr()
    );
    if let Some(addr) = controller.controller_addr() {
        println!("The ControllerManager boot success. serializeType=JSON, listening on {addr}");
    }
    let _ = std::io::stdout().flush();
    let signal = signals.recv().await;
    tracing::info!(signal, "shutting down");
    controller.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (config, warnings) = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mqnamesrv: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_config || args.print_important {
        for w in &warnings {
            eprintln!("mqnamesrv: warning: {w}");
        }
        print!("{}", render_config(&config, !args.print_config));
        return ExitCode::SUCCESS;
    }
    if let Err(e) = init_logging(args.log_format.as_deref()) {
        eprintln!("mqnamesrv: {e}");
        return ExitCode::from(2);
    }
    for w in warnings {
        tracing::warn!("{w}");
    }
    if let Some(n) = &args.namesrv_addr {
        tracing::debug!(namesrv_addr = %n, "-n is ignored by the name server");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mqnamesrv: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("mqnamesrv: {e}");
            ExitCode::FAILURE
        }
    }
}
