//! Layered loading: defaults < file (`-c`) < environment (`NAMESRV_ADDR`) < command line.

use std::path::Path;

use super::BrokerConfig;

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A value is invalid (the message names the key).
    #[error("invalid config value ({origin}): {msg}")]
    Invalid {
        /// Where the value came from.
        origin: String,
        /// What is wrong.
        msg: String,
    },
}

/// Java-properties parsing (`key=value`, `key: value`, `key value`, `#`/`!` comments,
/// backslash continuation).
fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending.push_str(stripped);
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let idx = full.find(['=', ':', ' ', '\t']);
        let (k, v) = match idx {
            Some(i) => {
                let rest = full[i..].trim_start_matches([' ', '\t']);
                let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
                (&full[..i], rest.trim())
            }
            None => (full.as_str(), ""),
        };
        out.push((k.trim().to_string(), v.to_string()));
    }
    out
}

/// Load `file` then the environment then `cli` into `cfg`. Returns warnings (unknown keys).
pub fn load_config(cfg: &mut BrokerConfig, file: Option<&Path>, cli: &[(String, String)]) -> Result<Vec<String>, ConfigLoadError> {
    let mut warnings = Vec::new();
    let mut layers: Vec<(String, Vec<(String, String)>)> = Vec::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigLoadError::Io { path: path.display().to_string(), source })?;
        layers.push((path.display().to_string(), parse_properties(&text)));
    }
    if let Ok(addr) = std::env::var("NAMESRV_ADDR") {
        if !addr.trim().is_empty() && cli.iter().all(|(k, _)| k != "namesrvAddr") {
            layers.push(("env NAMESRV_ADDR".into(), vec![("namesrvAddr".into(), addr)]));
        }
    }
    layers.push(("command line".into(), cli.to_vec()));
    for (origin, kvs) in layers {
        for (k, v) in kvs {
            match cfg.apply(&k, &v) {
                Ok(true) => {}
                Ok(false) => warnings.push(format!("unknown config key '{k}' ({origin}) ignored")),
                Err(msg) => return Err(ConfigLoadError::Invalid { origin, msg }),
            }
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties() {
        let p = parse_properties("# c\nbrokerName = broker-a\nlistenPort:10911\nnamesrvAddr 127.0.0.1:9876;127.0.0.1:9877\nk=a\\\n b\n");
        assert_eq!(p[0], ("brokerName".into(), "broker-a".into()));
        assert_eq!(p[1], ("listenPort".into(), "10911".into()));
        assert_eq!(p[2], ("namesrvAddr".into(), "127.0.0.1:9876;127.0.0.1:9877".into()));
        assert_eq!(p[3], ("k".into(), "ab".into()));
    }
}
