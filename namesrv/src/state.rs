//! The state every processor shares: config, route tables, KV config.

use parking_lot::RwLock;

use crate::config::NamesrvConfig;
use crate::kv_config::KvConfig;
use crate::route_info::RouteInfo;

/// Shared name server state. Each part has its own lock: the route tables are independent of
/// the KV config and of the (runtime-updatable) settings.
pub struct NamesrvState {
    /// Current settings (UPDATE_NAMESRV_CONFIG may change the runtime ones).
    pub config: RwLock<NamesrvConfig>,
    /// Route tables and liveness.
    pub routes: RouteInfo,
    /// KV config.
    pub kv: KvConfig,
    /// Request-path metrics.
    pub metrics: crate::metrics::NamesrvMetrics,
}
