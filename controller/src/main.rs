//! `mqcontroller`: one replica of the rmq controller group.
//!
//! ```text
//! mqcontroller [-c controller.conf] [-p | -m] [--set key=value]...
//! ```
//! Configuration precedence: defaults < `-c` file < `MQCONTROLLER_*` environment < command line.
//! It listens on its own address in `controllerDLegerPeers`. SIGINT/SIGTERM shut down gracefully.
#![forbid(unsafe_code)]

use mq_common::shutdown::Signals;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mq_common::config::{load_layered, parse_key_value, render_config, SecurityConfig};
use mq_common::logging::{LogSettings, LogTarget};
use mq_controller::config::ENV_PREFIX;
use mq_controller::{ControllerConfig, ControllerNode};

/// rmq controller: Raft-replicated master election for broker groups (controller mode).
#[derive(Debug, Parser)]
#[command(name = "mqcontroller", version, about)]
struct Args {
    /// Java-properties config file (e.g. conf/controller-3n/controller-n0.conf).
    #[arg(short = 'c', long = "configFile", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Print every config item (key=value) and exit.
    #[arg(short = 'p', long = "printConfigItem")]
    print_config: bool,
    /// Print the important config items and exit.
    #[arg(short = 'm', long = "printImportantConfig")]
    print_important: bool,
    /// Set any config key (repeatable), e.g. --set controllerDLegerSelfId=n1.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    sets: Vec<(String, String)>,
}

/// What `-c`, the environment and `--set` configure: the controller's keys and the security
/// keys (`aclEnable`, `accessKey`, `tlsMode`, ...), which the controller keeps beside its own.
#[derive(Default)]
struct ProcessConfig {
    controller: ControllerConfig,
    security: SecurityConfig,
}

mq_common::config_keys!(ProcessConfig {}
nested: controller;
nested: security;
);

async fn run(config: ControllerConfig) -> Result<(), String> {
    let mut signals = Signals::install().map_err(|e| format!("installing signal handlers: {e}"))?;
    let node = ControllerNode::start(config).await.map_err(|e| e.to_string())?;
    // Scripts and tests wait for this line.
    println!("The Controller boot success, listening on {}", node.local_addr());
    let _ = std::io::stdout().flush();
    let signal = signals.recv().await;
    tracing::info!(signal, "shutting down");
    node.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut process = ProcessConfig::default();
    let loaded = load_layered(&mut process, args.config_file.as_deref(), ENV_PREFIX, &args.sets);
    let ProcessConfig { controller: mut config, security } = process;
    config.security = security;
    config.config_file = args.config_file.clone();
    let warnings =
        match loaded.map_err(|e| e.to_string()).and_then(|w| config.validate().map(|_| w)) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("mqcontroller: {e}");
                return ExitCode::from(2);
            }
        };
    if args.print_config || args.print_important {
        let shown = ProcessConfig { security: config.security.clone(), controller: config };
        print!("{}", render_config(&shown, !args.print_config));
        return ExitCode::SUCCESS;
    }
    if let Err(e) = LogSettings::from_env("info", LogTarget::Stdout).and_then(|s| s.init()) {
        eprintln!("mqcontroller: {e}");
        return ExitCode::from(2);
    }
    for w in warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mqcontroller: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("mqcontroller: {e}");
            ExitCode::FAILURE
        }
    }
}
