//! Admin API (placeholder while being written).

/// Admin client.
pub struct Admin;
