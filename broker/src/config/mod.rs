//! Broker configuration: Apache's `broker.conf` keys (spec §6.2), loading and printing.

mod broker_config;
mod live;
mod load;
mod persist;

pub use broker_config::{BrokerConfig, BrokerRole, Permission, StoreType};
pub use live::LiveSettings;
pub use load::{load_config, ConfigLoadError};
pub use mq_common::config::{ConfigKeys, KeyEffect};
pub use persist::{config_file_path, persist, render};
