//! Shared state of the HTTP handlers.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Auth;
use crate::backend::Backend;
use crate::guard::LoginLimiter;
use crate::metrics::Metrics;
use crate::sampler::Sampler;

/// Cloned into every handler.
#[derive(Clone)]
pub struct AppState {
    /// The cluster.
    pub backend: Arc<dyn Backend>,
    /// Login.
    pub auth: Arc<Auth>,
    /// TPS history.
    pub sampler: Arc<Sampler>,
    /// Console metrics.
    pub metrics: Arc<Metrics>,
    /// Upper bound for one API request's cluster work.
    pub request_timeout: Duration,
    /// Nameservers (shown on the overview).
    pub namesrv: Vec<String>,
    /// Failed-login lockout per client address.
    pub login_limiter: Arc<LoginLimiter>,
    /// Served over HTTPS: the session cookie gets `Secure` (a browser then never sends it
    /// over plaintext HTTP).
    pub https: bool,
}

impl AppState {
    /// The `Set-Cookie` value carrying `token` for `max_age` seconds (0 clears the cookie).
    pub fn session_cookie(&self, token: &str, max_age: u64) -> String {
        let secure = if self.https { "; Secure" } else { "" };
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
            crate::auth::COOKIE
        )
    }

    /// State over a backend with defaults (tests, fake mode).
    pub fn new(backend: Arc<dyn Backend>, auth: Auth) -> Self {
        AppState {
            backend,
            auth: Arc::new(auth),
            sampler: Arc::new(Sampler::new(Duration::from_secs(5))),
            metrics: Arc::new(Metrics::default()),
            request_timeout: Duration::from_secs(20),
            namesrv: Vec::new(),
            login_limiter: Arc::default(),
            https: false,
        }
    }
}
