//! The one log setup of every rmq binary: `tracing` events, one line each, as text or JSON,
//! to stdout or to a size-rotated file. Settings come from the environment, with the names the
//! chat/presence services' seeds use, so every container is configured the same way:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `RUST_LOG`, else `LOG_LEVEL` | filter (`info`, `warn,mq_broker=debug`, ...) | the binary's |
//! | `LOG_FORMAT` | `text` or `json` (one JSON object per line) | `text` |
//! | `LOG_FILE_PATH` | write to this file instead of stdout, rotated by size | unset |
//! | `LOG_MAX_SIZE` | rotate when the file passes this many bytes (`k`/`m`/`g` suffixes) | `100m` |
//! | `LOG_MAX_FILES` | rotated files kept (`FILE.1` newest ... `FILE.N`) | `5` |
//!
//! A bad value stops the binary with a message naming the variable: a typo must not silently
//! turn logging off.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable `tracing` text.
    Text,
    /// One JSON object per event (`timestamp`, `level`, `target`, `fields`, span context).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("'{other}' is not text or json")),
        }
    }
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (the container convention).
    Stdout,
    /// Standard error (interactive tools whose stdout is their result, e.g. `mqadmin --json`).
    Stderr,
    /// A file rotated when it passes `max_bytes`, keeping `keep` old files.
    File {
        /// The live file.
        path: PathBuf,
        /// Rotation threshold, bytes (lines are never split).
        max_bytes: usize,
        /// Rotated files kept.
        keep: usize,
    },
}

/// Resolved settings (see the module docs for the variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `EnvFilter` directives.
    pub filter: String,
    /// Line format.
    pub format: LogFormat,
    /// Destination.
    pub target: LogTarget,
}

/// Parse a byte size: `1048576`, `512k`, `100m`, `1g` (binary multiples).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1usize << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: usize = num.trim().parse().map_err(|_| format!("'{s}' is not a size in bytes"))?;
    match n.checked_mul(mul) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("'{s}' must be a positive size that fits in memory")),
    }
}

impl LogSettings {
    /// Resolve from a variable lookup (`get(name)`; blank counts as unset). `default_filter`
    /// applies when neither `RUST_LOG` nor `LOG_LEVEL` is set; `default_target` when
    /// `LOG_FILE_PATH` is unset.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        default_filter: &str,
        default_target: LogTarget,
    ) -> Result<LogSettings, String> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let filter = get("RUST_LOG").or_else(|| get("LOG_LEVEL")).unwrap_or(default_filter.into());
        EnvFilter::try_new(&filter).map_err(|e| format!("LOG_LEVEL/RUST_LOG={filter:?}: {e}"))?;
        let format = match get("LOG_FORMAT") {
            Some(v) => v.parse().map_err(|e| format!("LOG_FORMAT: {e}"))?,
            None => LogFormat::Text,
        };
        let target = match get("LOG_FILE_PATH") {
            None => default_target,
            Some(path) => {
                let max_bytes = match get("LOG_MAX_SIZE") {
                    Some(v) => parse_size(&v).map_err(|e| format!("LOG_MAX_SIZE: {e}"))?,
                    None => 100 << 20,
                };
                let keep = match get("LOG_MAX_FILES") {
                    Some(v) => v
                        .trim()
                        .parse()
                        .map_err(|_| format!("LOG_MAX_FILES: '{v}' is not a count"))?,
                    None => 5,
                };
                LogTarget::File { path: PathBuf::from(path.trim()), max_bytes, keep }
            }
        };
        Ok(LogSettings { filter, format, target })
    }

    /// Resolve from the process environment.
    pub fn from_env(
        default_filter: &str,
        default_target: LogTarget,
    ) -> Result<LogSettings, String> {
        Self::from_lookup(|k| std::env::var(k).ok(), default_filter, default_target)
    }

    /// Install the global subscriber. Errors if the log file cannot be opened; a second call
    /// in one process (tests) is ignored.
    pub fn init(self) -> Result<(), String> {
        let filter = EnvFilter::new(&self.filter);
        match &self.target {
            LogTarget::Stdout => {
                install(filter, self.format, std::io::stdout().is_terminal(), std::io::stdout)
            }
            LogTarget::Stderr => {
                install(filter, self.format, std::io::stderr().is_terminal(), std::io::stderr)
            }
            LogTarget::File { path, max_bytes, keep } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        format!("LOG_FILE_PATH: cannot create {}: {e}", dir.display())
                    })?;
                }
                // Open once up front so a bad path is reported now, not swallowed per line.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("LOG_FILE_PATH: cannot open {}: {e}", path.display()))?;
                let file = FileRotate::new(
                    path,
                    AppendCount::new(*keep),
                    ContentLimit::BytesSurpassed(*max_bytes),
                    Compression::None,
                    None,
                );
                install(filter, self.format, false, RotatingWriter(parking_lot::Mutex::new(file)))
            }
        }
        Ok(())
    }
}

/// Resolve from the environment and install; on a bad setting print it and exit 2 (the
/// binaries' convention for configuration errors).
pub fn init_from_env(binary: &str, default_filter: &str, default_target: LogTarget) {
    if let Err(e) =
        LogSettings::from_env(default_filter, default_target).and_then(LogSettings::init)
    {
        eprintln!("{binary}: {e}");
        std::process::exit(2);
    }
}

fn install<W>(filter: EnvFilter, format: LogFormat, ansi: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        LogFormat::Text => b.with_ansi(ansi).try_init(),
        // Flattened: `{"timestamp":..,"level":..,"message":..,"key":..}`, what log shippers
        // (Loki, Fluent Bit, Elastic) index without a parsing rule.
        LogFormat::Json => b.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// The rotating file behind a mutex: events are rare (never per message), so a lock per
/// line costs nothing, and writing synchronously means no line is lost on exit.
struct RotatingWriter(parking_lot::Mutex<FileRotate<AppendCount>>);

/// One event's bytes, written as a unit when dropped so a rotation never splits a line.
struct LineGuard<'a> {
    file: &'a parking_lot::Mutex<FileRotate<AppendCount>>,
    buf: Vec<u8>,
}

impl Write for LineGuard<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineGuard<'_> {
    fn drop(&mut self) {
        let mut f = self.file.lock();
        let _ = f.write_all(&self.buf);
        let _ = f.flush();
    }
}

impl<'a> MakeWriter<'a> for RotatingWriter {
    type Writer = LineGuard<'a>;
    fn make_writer(&'a self) -> LineGuard<'a> {
        LineGuard { file: &self.0, buf: Vec::with_capacity(256) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<LogSettings, String> {
        let m: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LogSettings::from_lookup(|k| m.get(k).cloned(), "info", LogTarget::Stdout)
    }

    #[test]
    fn defaults_and_precedence() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s,
            LogSettings {
                filter: "info".into(),
                format: LogFormat::Text,
                target: LogTarget::Stdout
            }
        );
        assert_eq!(settings(&[("LOG_LEVEL", "debug")]).unwrap().filter, "debug");
        assert_eq!(
            settings(&[("LOG_LEVEL", "debug"), ("RUST_LOG", "warn")]).unwrap().filter,
            "warn"
        );
        assert_eq!(settings(&[("LOG_LEVEL", "  ")]).unwrap().filter, "info");
        assert_eq!(settings(&[("LOG_FORMAT", "JSON")]).unwrap().format, LogFormat::Json);
    }

    #[test]
    fn file_target_and_sizes() {
        let s = settings(&[
            ("LOG_FILE_PATH", "/x/b.log"),
            ("LOG_MAX_SIZE", "2k"),
            ("LOG_MAX_FILES", "3"),
        ])
        .unwrap();
        assert_eq!(s.target, LogTarget::File { path: "/x/b.log".into(), max_bytes: 2048, keep: 3 });
        assert_eq!(parse_size("100m").unwrap(), 100 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert!(settings(&[("LOG_FORMAT", "xml")]).unwrap_err().contains("LOG_FORMAT"));
        assert!(settings(&[("LOG_FILE_PATH", "/x"), ("LOG_MAX_SIZE", "lots")])
            .unwrap_err()
            .contains("LOG_MAX_SIZE"));
        assert!(settings(&[("LOG_FILE_PATH", "/x"), ("LOG_MAX_SIZE", "0")])
            .unwrap_err()
            .contains("LOG_MAX_SIZE"));
        assert!(settings(&[("LOG_FILE_PATH", "/x"), ("LOG_MAX_FILES", "-1")])
            .unwrap_err()
            .contains("LOG_MAX_FILES"));
        assert!(settings(&[("LOG_LEVEL", "info,[")]).unwrap_err().contains("LOG_LEVEL"));
    }

    #[test]
    fn rotating_writer_keeps_lines_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        let w = RotatingWriter(parking_lot::Mutex::new(FileRotate::new(
            &path,
            AppendCount::new(2),
            ContentLimit::BytesSurpassed(100),
            Compression::None,
            None,
        )));
        for i in 0..40 {
            let mut g = w.make_writer();
            writeln!(g, "line number {i:03} with some padding").unwrap();
        }
        drop(w);
        let mut files = 0;
        for name in ["t.log", "t.log.1", "t.log.2"] {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.len() <= 100 + 40, "{name} is {} bytes", text.len());
            for l in text.lines() {
                assert!(
                    l.starts_with("line number ") && l.ends_with("padding"),
                    "split line {l:?}"
                );
            }
            files += 1;
        }
        assert_eq!(files, 3);
        assert!(!dir.path().join("t.log.3").exists(), "keeps at most 2 rotated files");
    }
}
