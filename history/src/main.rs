//! `mqhistory`: check recorded histories, drive sends, read queues back (docs/history.md).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mq_history::drive::{drive, DriveOptions};
use mq_history::{check, load, readback, Recorder};

#[derive(Parser)]
#[command(name = "mqhistory", about = "Record and check histories of sends and deliveries")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check merged history files; exit status 1 when a guarantee was broken.
    Check {
        /// JSONL history files (drivers, read-back, fault schedule).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Send continuously with mq-client, recording every send.
    Drive {
        /// Name servers, `;`-separated.
        #[arg(long, short = 'n')]
        namesrv: String,
        /// Topic.
        #[arg(long, short = 't')]
        topic: String,
        /// History file to append to.
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Client name (keys are `{client}-{n}`; unique per run).
        #[arg(long, default_value = "rust")]
        client: String,
        /// Concurrent send loops.
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Stop after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
        /// Stop once this file exists.
        #[arg(long)]
        stop_file: Option<PathBuf>,
        /// Also consume the topic and record every delivery.
        #[arg(long)]
        consume: bool,
    },
    /// Read every queue of every routed replica of a topic (the final read-back).
    Readback {
        /// Name servers, `;`-separated.
        #[arg(long, short = 'n')]
        namesrv: String,
        /// Topic.
        #[arg(long, short = 't')]
        topic: String,
        /// History file to append to.
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Check { files } => {
            let report = check(load(&files)?);
            print!("{}", report.render());
            if !report.valid() {
                std::process::exit(1);
            }
        }
        Cmd::Drive { namesrv, topic, out, client, workers, seconds, stop_file, consume } => {
            anyhow::ensure!(
                seconds.is_some() || stop_file.is_some(),
                "give --seconds or --stop-file: a driver must know when to stop"
            );
            let rec = Recorder::open(&out)?;
            let stop = Arc::new(AtomicBool::new(false));
            let end = seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
            let watcher = {
                let stop = stop.clone();
                tokio::spawn(async move {
                    loop {
                        let timed_out = end.is_some_and(|e| tokio::time::Instant::now() >= e);
                        if timed_out || stop_file.as_ref().is_some_and(|f| f.exists()) {
                            stop.store(true, Ordering::Relaxed);
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                })
            };
            let opts = DriveOptions {
                namesrv,
                topic,
                client,
                workers,
                pause_after_error: Duration::from_millis(50),
                consume,
            };
            let (sent, acked) = drive(&opts, &rec, stop).await?;
            watcher.abort();
            println!("sent={sent} acked={acked}");
        }
        Cmd::Readback { namesrv, topic, out } => {
            let rec = Recorder::open(&out)?;
            let n = readback::read_all(&namesrv, &topic, &rec).await?;
            println!("read={n}");
        }
    }
    Ok(())
}
