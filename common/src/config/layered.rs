//! Layered loading: defaults < properties file < environment < command line, and printing.

use std::collections::HashMap;
use std::path::Path;

use super::error::{ConfigError, ConfigSource};
use super::keys::ConfigKeys;
use super::properties::load_properties_file_lines;

/// Apply the configuration layers to `cfg`, which holds the defaults on entry:
///
/// 1. `file` (Java properties, `-c`), if given; a missing or unreadable file is an error;
/// 2. environment variables `{env_prefix}_{UPPER_SNAKE_KEY}` (e.g. `MQBROKER_LISTEN_PORT` →
///    `listenPort`, `MQBROKER_BROKER_IP1` → `brokerIP1`); an empty prefix disables this layer;
/// 3. `cli_sets` (`--set key=value` and dedicated flags), in order.
///
/// Later layers win. A known key with an invalid value is an error naming the key, the value
/// and where it came from (`file:line`, the variable, or the command line). Unknown keys (and
/// prefixed variables that match no key) only produce the returned warnings, as Java ignores
/// unknown keys.
pub fn load_layered<C: ConfigKeys>(
    cfg: &mut C,
    file: Option<&Path>,
    env_prefix: &str,
    cli_sets: &[(String, String)],
) -> Result<Vec<String>, ConfigError> {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    load_layered_with_env(cfg, file, env_prefix, env, cli_sets)
}

/// [`load_layered`] with an explicit environment (tests must not mutate the process
/// environment, which other threads read concurrently).
pub fn load_layered_with_env<C: ConfigKeys>(
    cfg: &mut C,
    file: Option<&Path>,
    env_prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
    cli_sets: &[(String, String)],
) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();

    if let Some(path) = file {
        for p in load_properties_file_lines(path)? {
            let origin = ConfigSource::File { path: path.to_path_buf(), line: p.line };
            apply_one(cfg, &p.key, &p.value, origin, &mut warnings)?;
        }
    }

    if !env_prefix.is_empty() {
        let by_var: HashMap<String, &'static str> =
            cfg.entries().into_iter().map(|e| (upper_snake(e.key), e.key)).collect();
        let head = format!("{env_prefix}_");
        let mut vars: Vec<(String, String)> =
            env.into_iter().filter(|(k, _)| k.starts_with(&head) && k.len() > head.len()).collect();
        vars.sort();
        for (var, value) in vars {
            let suffix = &var[head.len()..];
            // Known keys map exactly; otherwise try the camelCase spelling, which also reaches
            // legacy aliases the struct accepts (MAPED_FILE_SIZE_COMMIT_LOG).
            let key = match by_var.get(suffix) {
                Some(k) => k.to_string(),
                None => snake_to_camel(suffix),
            };
            apply_one(cfg, &key, &value, ConfigSource::Env { var }, &mut warnings)?;
        }
    }

    for (key, value) in cli_sets {
        apply_one(cfg, key, value, ConfigSource::Cli, &mut warnings)?;
    }
    Ok(warnings)
}

fn apply_one<C: ConfigKeys>(
    cfg: &mut C,
    key: &str,
    value: &str,
    origin: ConfigSource,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    match cfg.apply(key, value) {
        Ok(true) => Ok(()),
        Ok(false) => {
            let what = match &origin {
                ConfigSource::Env { var } => {
                    format!("environment variable {var} matches no config key")
                }
                _ => format!("unknown config key '{key}'"),
            };
            warnings.push(format!("{what} (from {origin}); ignored"));
            Ok(())
        }
        Err(reason) => Err(ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            origin,
            reason,
        }),
    }
}

/// `key=value` lines, one per entry (all, or only the important ones), as Java's `-p` / `-m`.
pub fn render_config(cfg: &impl ConfigKeys, important_only: bool) -> String {
    let mut out = String::new();
    for e in cfg.entries() {
        if !important_only || e.important {
            out.push_str(e.key);
            out.push('=');
            out.push_str(&e.value);
            out.push('\n');
        }
    }
    out
}

/// camelCase key → UPPER_SNAKE (`listenPort` → `LISTEN_PORT`, `brokerIP1` → `BROKER_IP1`,
/// `HTTPServerPort` → `HTTP_SERVER_PORT`).
pub fn upper_snake(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The environment variable that overrides `key`: `{prefix}_{UPPER_SNAKE_KEY}`.
pub fn env_var_name(prefix: &str, key: &str) -> String {
    format!("{prefix}_{}", upper_snake(key))
}

/// UPPER_SNAKE → camelCase (`LISTEN_PORT` → `listenPort`); used for prefixed variables that
/// match no canonical key.
fn snake_to_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, part) in s.split('_').filter(|p| !p.is_empty()).enumerate() {
        let lower = part.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut cs = lower.chars();
            if let Some(f) = cs.next() {
                out.push(f.to_ascii_uppercase());
                out.extend(cs);
            }
        }
    }
    out
}

/// Parse a `key=value` command-line argument (`--set listenPort=9877`); usable as a clap
/// `value_parser`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected key=value, got '{s}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Debug, Clone, PartialEq)]
    struct Cfg {
        listen_port: u16,
        broker_ip1: String,
        flag: bool,
        size: u64,
    }
    impl Default for Cfg {
        fn default() -> Self {
            Cfg { listen_port: 10911, broker_ip1: "127.0.0.1".into(), flag: false, size: 1 }
        }
    }
    crate::config_keys!(Cfg {
        listen_port: "listenPort", important;
        broker_ip1: "brokerIP1", important;
        flag: "autoCreateTopicEnable";
        size: "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog";
    });

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn cli(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        env(pairs)
    }

    #[test]
    fn defaults_survive_empty_layers() {
        let mut c = Cfg::default();
        let w = load_layered_with_env(&mut c, None, "MQT", env(&[]), &[]).unwrap();
        assert!(w.is_empty());
        assert_eq!(c, Cfg::default());
    }

    #[test]
    fn precedence_file_env_cli() {
        let f = file("listenPort=1\nbrokerIP1=10.0.0.1\nautoCreateTopicEnable=true\nmapedFileSizeCommitLog=7\n");
        let mut c = Cfg::default();
        let e = env(&[
            ("MQT_LISTEN_PORT", "2"),
            ("MQT_BROKER_IP1", "10.0.0.2"),
            ("OTHER_LISTEN_PORT", "9"),
        ]);
        let w =
            load_layered_with_env(&mut c, Some(f.path()), "MQT", e, &cli(&[("listenPort", "3")]))
                .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.listen_port, 3, "CLI beats env and file");
        assert_eq!(c.broker_ip1, "10.0.0.2", "env beats file");
        assert!(c.flag, "file beats default");
        assert_eq!(c.size, 7, "legacy spelling accepted");
    }

    #[test]
    fn env_legacy_alias_through_camel_case() {
        let mut c = Cfg::default();
        load_layered_with_env(
            &mut c,
            None,
            "MQT",
            env(&[("MQT_MAPED_FILE_SIZE_COMMIT_LOG", "9")]),
            &[],
        )
        .unwrap();
        assert_eq!(c.size, 9);
    }

    #[test]
    fn empty_prefix_disables_env() {
        let mut c = Cfg::default();
        load_layered_with_env(
            &mut c,
            None,
            "",
            env(&[("_LISTEN_PORT", "2"), ("LISTEN_PORT", "2")]),
            &[],
        )
        .unwrap();
        assert_eq!(c.listen_port, 10911);
    }

    #[test]
    fn unknown_keys_are_warnings() {
        let f = file("listenPort=1\nnoSuchKey=5\n");
        let mut c = Cfg::default();
        let w = load_layered_with_env(
            &mut c,
            Some(f.path()),
            "MQT",
            env(&[("MQT_BOGUS", "1")]),
            &cli(&[("alsoBogus", "x")]),
        )
        .unwrap();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("noSuchKey") && w[0].contains(":2"), "{}", w[0]);
        assert!(w[1].contains("MQT_BOGUS"), "{}", w[1]);
        assert!(w[2].contains("alsoBogus") && w[2].contains("command line"), "{}", w[2]);
        assert_eq!(c.listen_port, 1);
    }

    #[test]
    fn invalid_value_names_key_value_and_source() {
        let f = file("# header\nlistenPort=10911\nautoCreateTopicEnable=yes\n");
        let mut c = Cfg::default();
        let err = load_layered_with_env(&mut c, Some(f.path()), "MQT", env(&[]), &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("autoCreateTopicEnable") && msg.contains("'yes'"), "{msg}");
        assert!(msg.contains(&format!("{}:3", f.path().display())), "{msg}");

        let err = load_layered_with_env(
            &mut Cfg::default(),
            None,
            "MQT",
            env(&[("MQT_LISTEN_PORT", "99999")]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("MQT_LISTEN_PORT") && err.contains("listenPort") && err.contains("99999"),
            "{err}"
        );

        let err = load_layered_with_env(
            &mut Cfg::default(),
            None,
            "",
            env(&[]),
            &cli(&[("listenPort", "abc")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("command line") && err.contains("abc"), "{err}");
    }

    #[test]
    fn missing_file_is_error_naming_it() {
        let err = load_layered_with_env(
            &mut Cfg::default(),
            Some(Path::new("/nonexistent/x.conf")),
            "",
            env(&[]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/x.conf"), "{err}");
    }

    #[test]
    fn process_env_layer() {
        // A prefix no other test or process uses, so setting it cannot race.
        std::env::set_var("MQCFGTEST_LAYERED_LISTEN_PORT", "4242");
        let mut c = Cfg::default();
        load_layered(&mut c, None, "MQCFGTEST_LAYERED", &[]).unwrap();
        assert_eq!(c.listen_port, 4242);
    }

    #[test]
    fn render_all_and_important() {
        let c = Cfg::default();
        assert_eq!(
            render_config(&c, false),
            "listenPort=10911\nbrokerIP1=127.0.0.1\nautoCreateTopicEnable=false\nmappedFileSizeCommitLog=1\n"
        );
        assert_eq!(render_config(&c, true), "listenPort=10911\nbrokerIP1=127.0.0.1\n");
    }

    #[test]
    fn rendered_config_reloads_to_same_values() {
        let c = Cfg { listen_port: 1, flag: true, ..Default::default() };
        let f = file(&render_config(&c, false));
        let mut d = Cfg::default();
        load_layered_with_env(&mut d, Some(f.path()), "", env(&[]), &[]).unwrap();
        assert_eq!(c, d);
    }

    #[test]
    fn snake_case_mapping() {
        assert_eq!(upper_snake("listenPort"), "LISTEN_PORT");
        assert_eq!(upper_snake("brokerIP1"), "BROKER_IP1");
        assert_eq!(upper_snake("HTTPServerPort"), "HTTP_SERVER_PORT");
        assert_eq!(upper_snake("kvConfigPath"), "KV_CONFIG_PATH");
        assert_eq!(upper_snake("scanNotActiveBrokerInterval"), "SCAN_NOT_ACTIVE_BROKER_INTERVAL");
        assert_eq!(env_var_name("MQBROKER", "listenPort"), "MQBROKER_LISTEN_PORT");
        assert_eq!(snake_to_camel("MAPED_FILE_SIZE_COMMIT_LOG"), "mapedFileSizeCommitLog");
    }

    #[test]
    fn key_value_args() {
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_key_value(" listenPort = 1 "), Ok(("listenPort".into(), "1".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
