//! `mqadmin`: RocketMQ's admin tool with Apache's subcommand names and flags.
//!
//! `mqadmin <command> -n host:port [options]` (`-n` falls back to `NAMESRV_ADDR`); output is
//! `#`-headed aligned columns like Apache's, or JSON with `--json`.
#![forbid(unsafe_code)]
// Column headers are passed as arguments so they line up with the rows printed by the same format.
#![allow(clippy::print_literal)]

mod cluster;
mod controller;
mod group;
mod message;
mod output;
mod topic;

use clap::{Parser, Subcommand};
use mq_client::options::{parse_namesrv_addrs, ClientOptions};
use mq_client::Admin;
use mq_common::acl::Credentials;
use mq_common::remoting::TlsClient;

/// Options every subcommand takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'.
    #[arg(short = 'n', long = "namesrvAddr", env = "NAMESRV_ADDR", global = true)]
    pub namesrv: Option<String>,
    /// Print JSON instead of columns (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// ACL access key to sign requests with (an admin account for changes).
    #[arg(long = "ak", alias = "accessKey", env = "RMQ_ACCESS_KEY", global = true)]
    pub access_key: Option<String>,
    /// ACL secret key.
    #[arg(
        long = "sk",
        alias = "secretKey",
        env = "RMQ_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Connect with TLS (needs --tls-ca or RMQ_TLS_CA).
    #[arg(long, global = true)]
    pub tls: bool,
    /// CA certificate file (PEM) the servers' certificates must chain to; implies --tls.
    #[arg(long = "tls-ca", env = "RMQ_TLS_CA", global = true, value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
}

impl Common {
    /// The name server list.
    pub fn namesrv(&self) -> anyhow::Result<String> {
        self.namesrv.clone().ok_or_else(|| {
            anyhow::anyhow!("no name server address: use -n host:port or set NAMESRV_ADDR")
        })
    }

    /// The credentials to sign with (`--ak` and `--sk` together, or neither).
    pub fn credentials(&self) -> anyhow::Result<Option<Credentials>> {
        match (&self.access_key, &self.secret_key) {
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!("--ak and --sk (RMQ_ACCESS_KEY / RMQ_SECRET_KEY) go together")
            }
            (ak, sk) => Ok(Credentials::from_parts(ak.as_deref(), sk.as_deref())),
        }
    }

    /// TLS settings (`--tls`, `--tls-ca`).
    pub fn tls(&self) -> anyhow::Result<Option<TlsClient>> {
        match &self.tls_ca {
            Some(ca) => Ok(Some(TlsClient::from_ca_file(ca).map_err(|e| anyhow::anyhow!(e))?)),
            None if self.tls => anyhow::bail!("--tls needs --tls-ca FILE (or RMQ_TLS_CA)"),
            None => Ok(None),
        }
    }

    /// Client options for producers and consumers the tool starts.
    pub fn client_options(&self) -> anyhow::Result<ClientOptions> {
        Ok(ClientOptions {
            namesrv_addrs: parse_namesrv_addrs(&self.namesrv()?),
            credentials: self.credentials()?,
            tls: self.tls()?,
            ..ClientOptions::default()
        })
    }

    /// Connect the admin client.
    pub async fn admin(&self) -> anyhow::Result<Admin> {
        let ns = parse_namesrv_addrs(&self.namesrv()?);
        let timeout = std::time::Duration::from_secs(3);
        Ok(Admin::with_security(ns, timeout, self.credentials()?, self.tls()?)?)
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
    #[command(flatten)]
    Controller(controller::ControllerCmd),
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
        Cmd::Controller(c) => c.run(&cli.common).await,
    };
    if let Err(e) = r {
        eprintln!("mqadmin: {e:#}");
        std::process::exit(1);
    }
}
