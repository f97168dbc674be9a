//! `mqadmin`: RocketMQ's admin tool with Apache's subcommand names and flags.
//!
//! `mqadmin <command> -n host:port [options]` (`-n` falls back to `NAMESRV_ADDR`); output is
//! `#`-headed aligned columns like Apache's, or JSON with `--json`.
#![forbid(unsafe_code)]
// Column headers are passed as arguments so they line up with the rows printed by the same format.
#![allow(clippy::print_literal)]

mod cluster;
mod group;
mod message;
mod output;
mod topic;

use clap::{Parser, Subcommand};
use mq_client::Admin;

/// Options every subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'.
    #[arg(short = 'n', long = "namesrvAddr", env = "NAMESRV_ADDR", global = true)]
    pub namesrv: Option<String>,
    /// Print JSON instead of columns (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

impl Common {
    /// Connect the admin client.
    pub async fn admin(&self) -> anyhow::Result<Admin> {
        let ns = self.namesrv.clone().ok_or_else(|| {
            anyhow::anyhow!("no name server address: use -n host:port or set NAMESRV_ADDR")
        })?;
        Ok(Admin::connect(&ns).await?)
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "mqadmin",
    version,
    about = "RocketMQ-compatible admin tool (Apache subcommand names and flags)"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    #[command(flatten)]
    Topic(topic::TopicCmd),
    #[command(flatten)]
    Cluster(cluster::ClusterCmd),
    #[command(flatten)]
    Group(group::GroupCmd),
    #[command(flatten)]
    Message(message::MessageCmd),
}

#[tokio::main]
async fn main() {
    // stdout is the command's output: logs default to stderr (LOG_FILE_PATH moves them).
    mq_common::logging::init_from_env("mqadmin", "warn", mq_common::logging::LogTarget::Stderr);
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Topic(c) => c.run(&cli.common).await,
        Cmd::Cluster(c) => c.run(&cli.common).await,
        Cmd::Group(c) => c.run(&cli.common).await,
        Cmd::Message(c) => c.run(&cli.common).await,
    };
    if let Err(e) = r {
        eprintln!("mqadmin: {e:#}");
        std::process::exit(1);
    }
}
