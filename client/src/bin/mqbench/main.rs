//! `mqbench`: throughput and latency of any RocketMQ-protocol broker, through the public
//! protocol only (our `mq-client`), modelled on Apache's benchmark tool (`-n -t -w -s ...`) with
//! HDR-histogram percentiles, a live progress line and a JSON record per run.
//!
//! ```text
//! mqbench producer -n 127.0.0.1:9876 -t BenchmarkTest -s 1024 -w 1 --inflight 256 --duration 20
//! mqbench producer -n 127.0.0.1:9876 -b 32 --duration 20            # batch send
//! mqbench producer -n 127.0.0.1:9876 --inflight 256 --auto-batch     # producer-side auto-batching
//! mqbench producer -n 127.0.0.1:9876 --sync --rate 10000 --duration 20  # fixed rate, CO-corrected
//! mqbench consumer -n 127.0.0.1:9876 -t BenchmarkTest --from-first --idle-exit 3
//! mqbench producer -n 127.0.0.1:9876 --grpc 127.0.0.1:8081 -w 1 --inflight 256  # 5.x gRPC send
//! mqbench consumer -n 127.0.0.1:9876 --pop --idle-exit 3 [--grpc 127.0.0.1:8081] # POP drain
//! mqbench e2e      -n 127.0.0.1:9876 --rate 10000 --duration 20      # born → receipt latency
//! mqbench producer -n 127.0.0.1:9876 --count 1000000 --timer-lead 60 --timer-window 3600  # timers
//! mqbench consumer -n 127.0.0.1:9876 --count 300000   # reports timer lateness when it sees timers
//! mqbench topics   -n 127.0.0.1:9876 --count 10000                   # create many topics
//! ```
#![forbid(unsafe_code)]

mod consume;
mod e2e;
mod grpc;
mod h2c;
mod payload;
mod produce;
mod stats;
mod topics;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// mimalloc: the request path allocates per header field (JSON ext fields, strings); glibc
/// malloc was ~20-30% of CPU in `perf` profiles of the send path (issue 7).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Benchmark a RocketMQ-protocol broker.
#[derive(Parser, Debug)]
#[command(name = "mqbench", version, about)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Send messages as fast as allowed (or at a fixed rate) and report send latency.
    Producer(ProduceArgs),
    /// Consume a topic and report throughput and born→consume / store→consume latency.
    Consumer(ConsumeArgs),
    /// Produce and consume together; latency from send to receipt.
    E2e(E2eArgs),
    /// Create many topics on one broker (memory per topic, create rate).
    Topics(TopicsArgs),
}

/// ACL credentials (ACL 1.0 signing of every request).
#[derive(Args, Debug, Clone)]
pub struct Auth {
    /// Access key to sign requests with.
    #[arg(long = "ak", env = "RMQ_ACCESS_KEY", requires = "secret_key")]
    pub access_key: Option<String>,
    /// Secret key.
    #[arg(long = "sk", env = "RMQ_SECRET_KEY", hide_env_values = true, requires = "access_key")]
    pub secret_key: Option<String>,
    /// Connect with TLS, trusting this CA certificate file (PEM).
    #[arg(long = "tls-ca", env = "RMQ_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<std::path::PathBuf>,
}

impl Auth {
    /// TLS, if `--tls-ca` was given.
    pub fn tls(&self) -> anyhow::Result<Option<mq_common::remoting::TlsClient>> {
        self.tls_ca
            .as_deref()
            .map(mq_common::remoting::TlsClient::from_ca_file)
            .transpose()
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// The credentials, if both keys were given.
    pub fn credentials(&self) -> Option<mq_common::acl::Credentials> {
        mq_common::acl::Credentials::from_parts(
            self.access_key.as_deref(),
            self.secret_key.as_deref(),
        )
    }
}

/// Options shared by every mode.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Name server address(es), `;`-separated.
    #[arg(short = 'n', long, env = "NAMESRV_ADDR", default_value = "127.0.0.1:9876")]
    pub namesrv: String,
    #[command(flatten)]
    pub auth: Auth,
    /// Topic.
    #[arg(short = 't', long, default_value = "BenchmarkTest")]
    pub topic: String,
    /// Stop after this many seconds (measured, after warm-up).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Stop after this many messages (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Warm-up seconds not counted in the results.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Print a final JSON record on stdout.
    #[arg(long)]
    pub json: bool,
    /// Label of the system under test, copied into the JSON record.
    #[arg(long, default_value = "rmq")]
    pub system: String,
    /// Scenario label, copied into the JSON record.
    #[arg(long, default_value = "")]
    pub scenario: String,
}

/// Producer options.
#[derive(Args, Debug, Clone)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Concurrent senders (each its own task; all share one producer and its connections).
    #[arg(short = 'w', long, default_value_t = 1)]
    pub workers: usize,
    /// Message body size in bytes.
    #[arg(short = 's', long, default_value_t = 1024)]
    pub size: usize,
    /// Messages per request (SEND_BATCH_MESSAGE when > 1).
    #[arg(short = 'b', long, default_value_t = 1)]
    pub batch: usize,
    /// Requests in flight per sender.
    #[arg(long, default_value_t = 1)]
    pub inflight: usize,
    /// Send-and-wait: one request in flight per sender (same as --inflight 1).
    #[arg(long)]
    pub sync: bool,
    /// Fixed total rate in messages/s (0 = as fast as possible). Latency is measured from each
    /// message's scheduled send time, correcting for coordinated omission.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Set a key per message (exercises the index).
    #[arg(short = 'k', long)]
    pub keys: bool,
    /// Tag to set (empty = none).
    #[arg(long, default_value = "")]
    pub tag: String,
    /// Set the user property `n` to the message's sequence number modulo N (0 = none): with
    /// N = 10, the consumer's `--sql 'n = 0'` matches 10 % of the messages.
    #[arg(long, default_value_t = 0)]
    pub prop_mod: u64,
    /// Producer group.
    #[arg(long, default_value = "benchmark_producer")]
    pub group: String,
    /// Send over the 5.x gRPC protocol to this endpoint (`host:port`, the broker's
    /// `grpcServerPort`) instead of remoting; one message per request.
    #[arg(long)]
    pub grpc: Option<String>,
    /// Timer messages: each gets `TIMER_DELIVER_MS` = send time + `--timer-lead` + a random
    /// offset in [0, this many seconds) (0 with a zero lead = plain messages).
    #[arg(long, default_value_t = 0.0)]
    pub timer_window: f64,
    /// Timer messages: seconds from the send to the start of the delivery window.
    #[arg(long, default_value_t = 0.0)]
    pub timer_lead: f64,
    /// Let the producer merge concurrent single sends into batch requests (Java 5.x
    /// `setAutoBatch(true)`); each message still gets its own result and latency.
    #[arg(long)]
    pub auto_batch: bool,
    /// With --auto-batch: longest a message waits for its batch, in ms (Java `batchMaxDelayMs`).
    #[arg(long, default_value_t = 10)]
    pub batch_max_delay_ms: u64,
    /// With --auto-batch: a batch goes out at this many body bytes (Java `batchMaxBytes`).
    #[arg(long, default_value_t = 32 * 1024)]
    pub batch_max_bytes: usize,
    /// With --auto-batch: Java's flush rule only (wait for the delay or the size), instead of
    /// also sending at once when no batch is in flight.
    #[arg(long)]
    pub batch_java_flush: bool,
}

/// Consumer options.
#[derive(Args, Debug, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Consumer group (default: a fresh `benchmark_consumer_<n>`).
    #[arg(short = 'g', long)]
    pub group: Option<String>,
    /// Start from the first offset (drain a backlog) instead of the last.
    #[arg(long)]
    pub from_first: bool,
    /// Stop when no message arrived for this many seconds after the first one (0 = never).
    #[arg(long, default_value_t = 0.0)]
    pub idle_exit: f64,
    /// Messages per pull.
    #[arg(long, default_value_t = 32)]
    pub pull_batch: i32,
    /// Handler concurrency.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
    /// Tag expression.
    #[arg(long, default_value = "*")]
    pub expr: String,
    /// SQL92 property filter instead of the tag expression (the broker needs
    /// `enablePropertyFilter=true`), e.g. `--sql 'n = 0'` with a producer's `--prop-mod 10`.
    #[arg(long)]
    pub sql: Option<String>,
    /// Consume by POP instead of pulling: remoting POP_MESSAGE + BATCH_ACK_MESSAGE (the
    /// `SimpleConsumer`), or with `--grpc` ReceiveMessage + AckMessage. `--concurrency`
    /// receive loops, `--pull-batch` messages per receive. A new group starts at the queue's
    /// first message while it still has it (a backlog drain).
    #[arg(long)]
    pub pop: bool,
    /// With `--pop`: receive over the 5.x gRPC protocol from this endpoint (`host:port`).
    #[arg(long)]
    pub grpc: Option<String>,
}

/// End-to-end options.
#[derive(Args, Debug, Clone)]
pub struct E2eArgs {
    #[command(flatten)]
    pub produce: ProduceArgs,
    /// Consumer group (default: a fresh one).
    #[arg(short = 'g', long = "consumer-group")]
    pub consumer_group: Option<String>,
}

/// Topic-creation options.
#[derive(Args, Debug, Clone)]
pub struct TopicsArgs {
    /// Name server address(es), `;`-separated.
    #[arg(short = 'n', long, env = "NAMESRV_ADDR", default_value = "127.0.0.1:9876")]
    pub namesrv: String,
    #[command(flatten)]
    pub auth: Auth,
    /// Broker address (default: the first master registered with the name server).
    #[arg(short = 'b', long)]
    pub broker: Option<String>,
    /// Number of topics.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// Topic name prefix (names are PREFIX0, PREFIX1, ...).
    #[arg(long, default_value = "BenchTopic")]
    pub prefix: String,
    /// Read and write queues per topic.
    #[arg(long, default_value_t = 4)]
    pub queues: i32,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Print a final JSON record on stdout.
    #[arg(long)]
    pub json: bool,
}

fn main() -> anyhow::Result<()> {
    // stdout carries the --json record: logs default to stderr.
    mq_common::logging::init_from_env("mqbench", "warn", mq_common::logging::LogTarget::Stderr);
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match cli.mode {
            Mode::Producer(a) => produce::run(a).await,
            Mode::Consumer(a) => consume::run(a).await,
            Mode::E2e(a) => e2e::run(a).await,
            Mode::Topics(a) => topics::run(a).await,
        }
    })
}

/// Seconds as a `Duration` (negative or NaN → zero).
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() && s > 0.0 { s } else { 0.0 })
}
