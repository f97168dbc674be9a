//! rmq web console: an axum JSON API over the cluster (read through the remoting protocol only)
//! and a dependency-free static UI embedded in the binary.
//!
//! * [`backend`]: the [`backend::Backend`] trait, a fake in-memory cluster and the real adapter.
//! * [`api`]: HTTP routes, one module per page family.
//! * [`auth`]: login for writes (PBKDF2 password hash, HMAC-signed session token).
//! * [`guard`]: security headers, same-origin writes, audit log, login lockout.
//! * [`sampler`]: background TPS sampling for the overview charts.
#![forbid(unsafe_code)]

pub mod api;
pub mod assets;
pub mod auth;
pub mod backend;
pub mod config;
pub mod error;
pub mod guard;
pub mod metrics;
pub mod sampler;
pub mod state;

pub use api::router;
pub use state::AppState;
