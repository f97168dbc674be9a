//! `mqhealth`: the health check of the container images, which have no shell or curl.
//!
//! ```text
//! mqhealth tcp  127.0.0.1:9876              # a listener accepts connections
//! mqhealth http 127.0.0.1:5557/health       # GET answers 2xx
//! ```
//! Exit 0 when healthy, 1 otherwise (with the reason on stderr); `--timeout SECS` (default 3).
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use mq_common::probe::{http_get, tcp_open};

fn usage() -> ExitCode {
    eprintln!("usage: mqhealth [--timeout SECS] tcp HOST:PORT | http HOST:PORT[/PATH]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut timeout = Duration::from_secs(3);
    if args.first().map(String::as_str) == Some("--timeout") {
        match args.get(1).and_then(|s| s.parse::<f64>().ok()).filter(|s| *s > 0.0) {
            Some(s) => timeout = Duration::from_secs_f64(s),
            None => return usage(),
        }
        args.drain(..2);
    }
    let (kind, target) = match args.as_slice() {
        [k, t] => (k.as_str(), t.as_str()),
        _ => return usage(),
    };
    let result = match kind {
        "tcp" => tcp_open(target, timeout).map(|_| "accepting".to_string()),
        "http" => {
            let (addr, path) = match target.find('/') {
                Some(i) => (&target[..i], &target[i..]),
                None => (target, "/"),
            };
            match http_get(addr, path, timeout) {
                Ok((s, _)) if (200..300).contains(&s) => Ok(format!("HTTP {s}")),
                Ok((s, body)) => Err(std::io::Error::other(format!("HTTP {s}: {}", body.trim()))),
                Err(e) => Err(e),
            }
        }
        _ => return usage(),
    };
    match result {
        Ok(what) => {
            println!("healthy: {kind} {target}: {what}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unhealthy: {kind} {target}: {e}");
            ExitCode::FAILURE
        }
    }
}
