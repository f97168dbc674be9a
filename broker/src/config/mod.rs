//! Broker configuration: Apache's `broker.conf` keys (spec §6.2), loading and printing.

mod broker_config;
mod live;
mod load;
mod persist;

pub use broker_config::{BrokerConfig, BrokerRole, STORE_KEYS};
pub use live::{key_effect, KeyEffect, LiveSettings, WIRE_REFUSED_KEYS};
pub use load::{load_config, ConfigLoadError};
pub use persist::{config_file_path, persist, render};
