//! A parser for Java `.properties` text with `java.util.Properties#load` semantics.
//!
//! Rules (all covered by unit tests below):
//! - Lines end at `\n`, `\r\n` or `\r`. Leading whitespace (space, tab, form feed) is ignored.
//! - A line whose first non-whitespace character is `#` or `!` is a comment; blank lines are
//!   skipped. A comment line never continues onto the next line.
//! - A line ending in an odd number of backslashes continues on the next line; the backslash
//!   and the next line's leading whitespace are dropped.
//! - The key runs to the first unescaped `=`, `:` or whitespace; whitespace around the separator
//!   and at most one `=`/`:` are skipped; the rest of the logical line is the value
//!   (`key=value`, `key: value`, `key value`, and a lone `key` with an empty value).
//! - Escapes in keys and values: `\uXXXX`, `\t`, `\n`, `\r`, `\f`; a backslash before any other
//!   character yields that character (`\=`, `\:`, `\ `, `\\`, `\#`). A malformed `\u` escape is
//!   an error, as in Java.
//! - **Deviation from Java:** trailing whitespace of a value is trimmed (Java keeps it, which
//!   silently turns `listenPort=10911 ` into an invalid number). Whitespace written as an escape
//!   (`\ `, `\t`) is kept.
//! - A key given more than once keeps its last value (Java's `Properties` is a map); the entry
//!   sits at the position of the last occurrence.
//! - Input is text; [`load_properties_file`] reads UTF-8 and falls back to ISO-8859-1 (Java's
//!   encoding for `Properties#load(InputStream)`) when the file is not valid UTF-8.

use std::path::Path;

use super::error::ConfigError;

/// One `key=value` entry with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The unescaped key.
    pub key: String,
    /// The unescaped value (trailing unescaped whitespace trimmed).
    pub value: String,
    /// 1-based line number where the entry starts.
    pub line: usize,
}

/// Parse properties text into `(key, value)` pairs in file order (see the module docs for the
/// exact rules).
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    Ok(parse_properties_lines(text)?.into_iter().map(|p| (p.key, p.value)).collect())
}

/// Read and parse a properties file; errors name the file.
pub fn load_properties_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    Ok(load_properties_file_lines(path)?.into_iter().map(|p| (p.key, p.value)).collect())
}

/// [`load_properties_file`] keeping line numbers (for error messages).
pub(crate) fn load_properties_file_lines(path: &Path) -> Result<Vec<Property>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        // ISO-8859-1: every byte is the code point of the same value.
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    parse_properties_lines(&text).map_err(|e| match e {
        ConfigError::Syntax { line, message, .. } => {
            ConfigError::Syntax { file: Some(path.to_path_buf()), line, message }
        }
        other => other,
    })
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Split text into natural lines, accepting `\n`, `\r\n` and `\r` terminators.
fn natural_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if i + 1 < b.len() && b[i + 1] == b'\n' {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

/// Whether a line ends in an odd number of backslashes (i.e. continues).
fn continues(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Parse properties text keeping the line number of each entry.
pub fn parse_properties_lines(text: &str) -> Result<Vec<Property>, ConfigError> {
    let lines = natural_lines(text);
    let mut out: Vec<Property> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first_line = i + 1;
        let trimmed = lines[i].trim_start_matches(is_ws);
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Build the logical line: join continuations, dropping the continuation backslash and
        // the next line's leading whitespace.
        let mut logical = String::from(trimmed);
        while continues(&logical) {
            logical.pop();
            if i >= lines.len() {
                break;
            }
            logical.push_str(lines[i].trim_start_matches(is_ws));
            i += 1;
        }
        let (key, value) = split_entry(&logical, first_line)?;
        out.retain(|p| p.key != key);
        out.push(Property { key, value, line: first_line });
    }
    Ok(out)
}

/// Split one logical line (leading whitespace already removed) into unescaped key and value.
fn split_entry(logical: &str, line: usize) -> Result<(String, String), ConfigError> {
    let chars: Vec<char> = logical.chars().collect();
    // Find the end of the key: first unescaped '=', ':' or whitespace.
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        if c == '\\' {
            k += 2;
            continue;
        }
        if c == '=' || c == ':' || is_ws(c) {
            break;
        }
        k += 1;
    }
    let key_end = k.min(chars.len());
    let mut v = key_end;
    while v < chars.len() && is_ws(chars[v]) {
        v += 1;
    }
    if v < chars.len() && (chars[v] == '=' || chars[v] == ':') {
        v += 1;
        while v < chars.len() && is_ws(chars[v]) {
            v += 1;
        }
    }
    let (key, _) = unescape(&chars[..key_end], line)?;
    let (mut value, keep) = unescape(&chars[v..], line)?;
    // Trim trailing whitespace that was not written as an escape.
    while value.len() > keep && value.ends_with(is_ws) {
        value.pop();
    }
    Ok((key, value))
}

/// Unescape; returns the text and the byte length of the prefix that must survive trimming
/// (up to and including the last escaped character).
fn unescape(chars: &[char], line: usize) -> Result<(String, usize), ConfigError> {
    let mut out = String::with_capacity(chars.len());
    let mut keep = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else {
            // A lone trailing backslash (continuation at end of input) is dropped.
            break;
        };
        i += 1;
        match e {
            'u' => {
                let hex: String = chars.iter().skip(i).take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| ConfigError::Syntax {
                    file: None,
                    line,
                    message: format!("malformed \\uxxxx escape '\\u{hex}'"),
                })?;
                i += 4;
                // Surrogate pairs (\uD83D\uDE00) combine into one char.
                if (0xD800..0xDC00).contains(&code)
                    && chars.get(i) == Some(&'\\')
                    && chars.get(i + 1) == Some(&'u')
                {
                    let low: String = chars.iter().skip(i + 2).take(4).collect();
                    if let Ok(lo) = u32::from_str_radix(&low, 16) {
                        if low.len() == 4 && (0xDC00..0xE000).contains(&lo) {
                            let cp = 0x10000 + ((code - 0xD800) << 10) + (lo - 0xDC00);
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                            i += 6;
                            keep = out.len();
                            continue;
                        }
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            other => out.push(other),
        }
        keep = out.len();
    }
    Ok((out, keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, String)> {
        parse_properties(text).unwrap()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn three_separator_forms() {
        assert_eq!(
            parse("a=1\nb: 2\nc 3\nd\t=\t4\ne   :5\n"),
            vec![kv("a", "1"), kv("b", "2"), kv("c", "3"), kv("d", "4"), kv("e", "5")]
        );
    }

    #[test]
    fn only_first_separator_splits() {
        assert_eq!(
            parse("a=b=c\nx: y: z\nk = = v"),
            vec![kv("a", "b=c"), kv("x", "y: z"), kv("k", "= v")]
        );
    }

    #[test]
    fn key_without_value() {
        assert_eq!(parse("lonely\nempty=\n"), vec![kv("lonely", ""), kv("empty", "")]);
    }

    #[test]
    fn comments_and_blank_lines() {
        let text =
            "# comment\n! also comment\n   # indented comment\n\n   \nkey=v # not a comment\n";
        assert_eq!(parse(text), vec![kv("key", "v # not a comment")]);
    }

    #[test]
    fn leading_whitespace_ignored() {
        assert_eq!(parse("   \t key = value"), vec![kv("key", "value")]);
    }

    #[test]
    fn trailing_whitespace_trimmed_but_escaped_kept() {
        assert_eq!(
            parse("a=10911   \t\nb=x\\ \nc=y\\t"),
            vec![kv("a", "10911"), kv("b", "x "), kv("c", "y\t")]
        );
    }

    #[test]
    fn line_continuation() {
        let text = "list=a,\\\n    b,\\\n\tc\nnext=1";
        assert_eq!(parse(text), vec![kv("list", "a,b,c"), kv("next", "1")]);
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        assert_eq!(parse("path=c:\\\\\nnext=1"), vec![kv("path", "c:\\"), kv("next", "1")]);
    }

    #[test]
    fn continuation_at_end_of_input() {
        assert_eq!(parse("a=1\\"), vec![kv("a", "1")]);
    }

    #[test]
    fn comment_lines_do_not_continue() {
        assert_eq!(parse("# comment \\\na=1"), vec![kv("a", "1")]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            parse("k=\\u0041\\u00e9\\t\\n\\r\\f\\\\\\q\nuni=\\uD83D\\uDE00"),
            vec![kv("k", "Aé\t\n\r\x0c\\q"), kv("uni", "😀")]
        );
    }

    #[test]
    fn escaped_separators_in_key() {
        assert_eq!(parse("a\\=b\\:c\\ d=v"), vec![kv("a=b:c d", "v")]);
    }

    #[test]
    fn malformed_unicode_escape_is_error() {
        let err = parse_properties("ok=1\nbad=\\u12G4").unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 2, .. }), "{err}");
        assert!(parse_properties("bad=\\u12").is_err());
    }

    #[test]
    fn all_line_terminators() {
        assert_eq!(parse("a=1\r\nb=2\rc=3\n"), vec![kv("a", "1"), kv("b", "2"), kv("c", "3")]);
    }

    #[test]
    fn last_duplicate_wins() {
        assert_eq!(parse("a=1\nb=2\na=3"), vec![kv("b", "2"), kv("a", "3")]);
    }

    #[test]
    fn line_numbers_point_at_entry_start() {
        let props = parse_properties_lines("# c\na=1\\\n 2\nb=3").unwrap();
        assert_eq!(props[0].line, 2);
        assert_eq!(props[0].value, "12");
        assert_eq!(props[1].line, 4);
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.conf");
        let err = load_properties_file(&missing).unwrap_err();
        assert!(err.to_string().contains("nope.conf"), "{err}");

        let bad = dir.path().join("bad.conf");
        std::fs::write(&bad, "x=\\uZZZZ").unwrap();
        let err = load_properties_file(&bad).unwrap_err();
        assert!(err.to_string().contains("bad.conf:1: malformed"), "{err}");
    }

    #[test]
    fn latin1_file_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l1.conf");
        std::fs::write(&p, b"name=caf\xe9\n").unwrap();
        assert_eq!(load_properties_file(&p).unwrap(), vec![kv("name", "café")]);
    }

    #[test]
    fn apache_broker_conf_sample() {
        let text = "brokerClusterName = DefaultCluster\nbrokerName = broker-a\nbrokerId = 0\n\
                    deleteWhen = 04\nfileReservedTime = 48\nbrokerRole = ASYNC_MASTER\nflushDiskType = ASYNC_FLUSH\n";
        let p = parse(text);
        assert_eq!(p.len(), 7);
        assert_eq!(p[3], kv("deleteWhen", "04"));
    }
}
