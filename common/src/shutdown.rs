//! The one way every rmq binary waits for SIGTERM / SIGINT.
//!
//! Install the handlers first, before listeners open: a SIGTERM that arrives while a process
//! is still starting must then shut it down cleanly instead of killing it (the default action).

use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGTERM and SIGINT handlers, installed.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    /// Install the handlers (needs a tokio runtime with signals enabled).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Wait for the first of SIGTERM or SIGINT; returns its name (for the shutdown log line).
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
