//! Load generator for `bench/compare.sh` with `PEER` rabbitmq or redis, shaped like `mqbench`:
//! a publisher with N confirmed sends in flight (N=1: one at a time; `--batch`: N batches in
//! flight), a reader draining a backlog, or an end-to-end run at a fixed rate (send -> receipt
//! latency, stamped in the body). Prints one JSON record on stdout (the fields compare.sh reads).
//!
//! RabbitMQ goes through the stream protocol (`rabbitmq-stream-client`); Redis sends are
//! measured with `redis-benchmark` (its own tool), so only `consume` and `e2e` exist for it here.

mod rabbitmq;
mod record;
mod redis_peer;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Args {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port (RabbitMQ: the stream listener; Redis: the server).
    #[arg(long)]
    port: u16,
    /// Stream name (RabbitMQ stream, created if absent) or Redis stream key.
    #[arg(long, default_value = "bench")]
    stream: String,
    #[command(subcommand)]
    peer: Peer,
}

#[derive(Subcommand)]
enum Peer {
    /// RabbitMQ streams (stream protocol).
    Rabbitmq {
        #[command(subcommand)]
        cmd: Cmd,
    },
    /// Redis Streams (`XREAD`; consume and e2e only).
    Redis {
        #[command(subcommand)]
        cmd: Cmd,
    },
}

/// What to run; the shapes mirror `mqbench producer / consumer / e2e`.
#[derive(Subcommand)]
pub enum Cmd {
    /// Publish `size`-byte messages with `inflight` requests (of `batch` messages) unconfirmed.
    Produce {
        #[arg(short, long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 256)]
        inflight: usize,
        /// Messages per request (the client's batch send); 1: single sends.
        #[arg(short, long, default_value_t = 1)]
        batch: usize,
        /// Messages to publish (0: run for `duration`).
        #[arg(long, default_value_t = 0)]
        count: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
    /// Read `count` stored messages from the start of the stream.
    Consume {
        #[arg(long)]
        count: u64,
    },
    /// Send at `rate` msgs/s and receive them; latency from the body's send stamp to receipt.
    E2e {
        #[arg(short, long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Sends unconfirmed at most (as mqbench's `--inflight`).
        #[arg(long, default_value_t = 64)]
        inflight: usize,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let rec = match a.peer {
        Peer::Rabbitmq { cmd } => rabbitmq::run(&a.host, a.port, &a.stream, cmd).await?,
        Peer::Redis { cmd } => redis_peer::run(&a.host, a.port, &a.stream, cmd).await?,
    };
    println!("{rec}");
    Ok(())
}
