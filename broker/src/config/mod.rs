//! Broker configuration: Apache's `broker.conf` keys (spec §6.2), loading and printing.

mod broker_config;
mod load;

pub use broker_config::{BrokerConfig, BrokerRole, STORE_KEYS};
pub use load::{load_config, ConfigLoadError};
