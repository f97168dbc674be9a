//! Parsing JSON written by Java's fastjson, which is not always JSON (spec §2.10).
//!
//! fastjson writes numeric map keys unquoted (`{"brokerAddrs":{0:"a:1"}}`) and, for
//! `MessageQueue`-keyed maps, whole objects as keys. [`normalize`] rewrites both into strict JSON
//! (an object key becomes its compact JSON text as a string) so serde can parse it; strict input
//! passes through unchanged without allocation.

use std::borrow::Cow;

/// Rewrite fastjson output into strict JSON. Input that is already strict is returned as is.
pub fn normalize(input: &str) -> Cow<'_, str> {
    if serde_json::from_str::<serde::de::IgnoredAny>(input).is_ok() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(rewrite(input))
}

/// Parse fastjson output into `T`, normalizing first when needed.
pub fn from_str<T: serde::de::DeserializeOwned>(input: &str) -> Result<T, serde_json::Error> {
    match serde_json::from_str(input) {
        Ok(v) => Ok(v),
        Err(e) => {
            let fixed = rewrite(input);
            serde_json::from_str(&fixed).map_err(|_| e)
        }
    }
}

/// Parse fastjson bytes into `T` (see [`from_str`]).
pub fn from_slice<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<T, serde_json::Error> {
    match serde_json::from_slice(input) {
        Ok(v) => Ok(v),
        Err(e) => match std::str::from_utf8(input) {
            Ok(s) => serde_json::from_str(&rewrite(s)).map_err(|_| e),
            Err(_) => Err(e),
        },
    }
}

/// Character-level rewrite: quote bare keys (numbers, identifiers) and stringify object keys.
fn rewrite(input: &str) -> String {
    let b = input.as_bytes();
    let mut out = String::with_capacity(input.len() + 16);
    let mut i = 0;
    // Whether the next token is in key position (right after `{` or a `,` inside an object).
    let mut stack: Vec<u8> = Vec::new();
    let mut expect_key = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => {
                let end = string_end(b, i);
                out.push_str(&input[i..end]);
                i = end;
                expect_key = false;
                continue;
            }
            b'{' if expect_key => {
                // An object used as a key: find its matching brace and emit it as a string.
                let end = value_end(b, i);
                let key_text = &input[i..end];
                let compact = match serde_json::from_str::<serde_json::Value>(&rewrite(key_text)) {
                    Ok(v) => v.to_string(),
                    Err(_) => key_text.to_string(),
                };
                out.push_str(&serde_json::Value::String(compact).to_string());
                i = end;
                expect_key = false;
                continue;
            }
            b'{' => {
                stack.push(b'{');
                out.push('{');
                expect_key = true;
            }
            b'[' => {
                stack.push(b'[');
                out.push('[');
                expect_key = false;
            }
            b'}' | b']' => {
                stack.pop();
                out.push(c as char);
                expect_key = false;
            }
            b',' => {
                out.push(',');
                expect_key = stack.last() == Some(&b'{');
            }
            b':' => {
                out.push(':');
                expect_key = false;
            }
            c if c.is_ascii_whitespace() => out.push(c as char),
            _ if expect_key => {
                // A bare key: up to the ':'.
                let start = i;
                while i < b.len() && b[i] != b':' && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                out.push('"');
                out.push_str(&input[start..i]);
                out.push('"');
                expect_key = false;
                continue;
            }
            _ => {
                // A bare value token (number, true, false, null): copy until a delimiter.
                let start = i;
                while i < b.len()
                    && !matches!(b[i], b',' | b'}' | b']' | b':')
                    && !b[i].is_ascii_whitespace()
                {
                    i += 1;
                }
                out.push_str(&input[start..i]);
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Index just past the closing quote of the string starting at `start`.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Index just past the object/array starting at `start`.
fn value_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_numeric_keys() {
        let s = r#"{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"b"}"#;
        let v: serde_json::Value = from_str(s).unwrap();
        assert_eq!(v["brokerAddrs"]["0"], "10.0.0.1:10911");
        assert_eq!(v["brokerAddrs"]["1"], "10.0.0.2:10911");
    }

    #[test]
    fn stringifies_object_keys() {
        let s =
            r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":9}}}"#;
        let v: serde_json::Value = from_str(s).unwrap();
        let key = r#"{"brokerName":"b","queueId":0,"topic":"T"}"#;
        assert_eq!(v["offsetTable"][key]["brokerOffset"], 9);
    }

    #[test]
    fn strict_input_untouched() {
        let s = r#"{"a":[1,2,{"b":"x,y:z"}]}"#;
        assert!(matches!(normalize(s), Cow::Borrowed(_)));
    }

    #[test]
    fn nested_offset_table() {
        let s = r#"{"offsetTable":{"T@G":{0:12,1:40}}}"#;
        let v: serde_json::Value = from_str(s).unwrap();
        assert_eq!(v["offsetTable"]["T@G"]["1"], 40);
    }
}
