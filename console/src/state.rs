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
}

impl AppState {
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
        }
    }
}
