//! Configuration loading shared by `mqnamesrv` and `mqbroker` (spec §6, ecosystem §d).
//!
//! - [`properties`]: a Java `Properties` parser ([`parse_properties`], [`load_properties_file`]).
//! - [`keys`]: the [`ConfigKeys`] trait a config struct implements (usually through the
//!   [`config_keys!`](crate::config_keys) macro), typed value parsing ([`ConfigValue`],
//!   [`parse_bool`], [`parse_num`]).
//! - [`layered`]: [`load_layered`] applies defaults < file (`-c`) < environment
//!   (`PREFIX_UPPER_SNAKE_KEY`) < command line (`--set key=value`, `-n`, ...), and
//!   [`render_config`] prints `key=value` lines for `-p` / `-m`.
//!
//! ```
//! use mq_common::config::{load_layered, render_config, ConfigKeys};
//!
//! #[derive(Debug)]
//! struct Demo { listen_port: u16, name: String, fast: bool }
//! mq_common::config_keys!(Demo {
//!     listen_port: "listenPort", important;
//!     name: "name" | "legacyName";
//!     fast: "fast";
//! });
//!
//! let mut cfg = Demo { listen_port: 9876, name: "a".into(), fast: false };
//! let cli = vec![("listenPort".to_string(), "9000".to_string())];
//! let warnings = load_layered(&mut cfg, None, "", &cli).unwrap();
//! assert!(warnings.is_empty());
//! assert_eq!(cfg.listen_port, 9000);
//! assert_eq!(render_config(&cfg, true), "listenPort=9000\n");
//! ```

pub mod error;
pub mod keys;
pub mod layered;
pub mod properties;
pub mod security;

pub use error::{ConfigError, ConfigSource};
pub use keys::{
    expand_home, parse_bool, parse_num, ConfigEntry, ConfigKeys, ConfigValue, KeyEffect,
};
pub use layered::{
    env_var_name, load_layered, load_layered_with_env, parse_key_value, render_config, upper_snake,
};
pub use properties::{load_properties_file, parse_properties, parse_properties_lines, Property};
pub use security::{SecurityConfig, TlsMode, SECRET_KEYS, WIRE_FORBIDDEN_KEYS};
