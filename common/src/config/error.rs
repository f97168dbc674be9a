//! Errors of the config loader.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from; printed in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The default value built into the program.
    Default,
    /// A properties file, with the (1-based) line the entry starts on.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the entry's first line.
        line: usize,
    },
    /// An environment variable.
    Env {
        /// The variable's name, e.g. `MQBROKER_LISTEN_PORT`.
        var: String,
    },
    /// The command line (`--set key=value` or a dedicated flag).
    Cli,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Default => write!(f, "default"),
            ConfigSource::File { path, line } => write!(f, "{}:{}", path.display(), line),
            ConfigSource::Env { var } => write!(f, "environment variable {var}"),
            ConfigSource::Cli => write!(f, "command line"),
        }
    }
}

/// A configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The properties text is malformed (only a bad `\uXXXX` escape can do that, as in Java).
    #[error("{}: {message}", syntax_location(file.as_deref(), *line))]
    Syntax {
        /// The file, when parsing a file.
        file: Option<PathBuf>,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A known key got a value its type does not accept.
    #[error("invalid value '{value}' for config key '{key}' (from {origin}): {reason}")]
    InvalidValue {
        /// The config key.
        key: String,
        /// The rejected value.
        value: String,
        /// Where the value came from.
        origin: ConfigSource,
        /// Why it was rejected.
        reason: String,
    },
}

fn syntax_location(file: Option<&std::path::Path>, line: usize) -> String {
    match file {
        Some(p) => format!("{}:{line}", p.display()),
        None => format!("line {line}"),
    }
}
