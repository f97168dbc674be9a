//! Broker configuration: Apache's `broker.conf` keys (spec §6.2), loading and printing.

mod black_list;
mod broker_config;
mod live;
mod load;
mod persist;

pub use black_list::{refused_on_the_wire, WIRE_REFUSED_KEYS};
pub use broker_config::{BrokerConfig, BrokerRole, Permission, StoreType};
pub use live::LiveSettings;
pub use load::{load_config, ConfigLoadError};
pub use mq_common::config::{ConfigKeys, KeyEffect};
pub use persist::{config_file_path, persist, render};
