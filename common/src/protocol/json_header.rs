//! The JSON header (serialize type 0, spec §1.2): lenient decode, strict compact encode.
//!
//! Real clients send surprising JSON (spec §12): extFields values as numbers or booleans
//! (ali-ons, rocketmq-client-cpp), no `serializeTypeCurrentRPC`, `remark: null`, `language` as
//! a string or a number. We accept all of it. On output we emit exactly what fastjson does:
//! compact, keys in alphabetical order, every extFields value a string, null members omitted.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::command::{ExtFields, RemotingCommand, SerializeType};

/// Language names by binary code (0..13), shared with the binary header.
pub const LANGUAGES: [&str; 14] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST",
    "NODE_JS",
];

/// Header fields as they arrive; everything optional, unknown keys ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
struct WireHeader {
    #[serde(deserialize_with = "lenient_int")]
    code: i32,
    #[serde(deserialize_with = "lenient_language")]
    language: String,
    #[serde(deserialize_with = "lenient_int")]
    version: i32,
    #[serde(deserialize_with = "lenient_int")]
    opaque: i32,
    #[serde(deserialize_with = "lenient_int")]
    flag: i32,
    remark: Option<String>,
    #[serde(rename = "extFields", deserialize_with = "lenient_ext_fields")]
    ext_fields: ExtFields,
}

/// Decode a JSON header into a command (body left empty).
pub fn decode(bytes: &[u8]) -> Result<RemotingCommand, serde_json::Error> {
    let h: WireHeader = serde_json::from_slice(bytes)?;
    Ok(RemotingCommand {
        code: h.code,
        language: h.language,
        version: h.version,
        opaque: h.opaque,
        flag: h.flag,
        remark: h.remark,
        ext_fields: h.ext_fields,
        body: Default::default(),
        serialize_type: SerializeType::Json,
    })
}

/// Append the compact JSON header of `cmd` to `out`.
pub fn encode(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    use std::io::Write;
    // Writing to a Vec cannot fail; the unwraps below are on infallible writes.
    write!(out, "{{\"code\":{}", cmd.code).unwrap();
    if !cmd.ext_fields.is_empty() || cmd.is_response() {
        // Java clients dereference `extFields` of responses unconditionally (SEND), so a
        // response always carries the object, possibly empty.
        out.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v)) in cmd.ext_fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, k);
            out.push(b':');
            write_json_str(out, v);
        }
        out.push(b'}');
    }
    write!(out, ",\"flag\":{},\"language\":", cmd.flag).unwrap();
    write_json_str(out, if cmd.language.is_empty() { "JAVA" } else { &cmd.language });
    write!(out, ",\"opaque\":{}", cmd.opaque).unwrap();
    if let Some(remark) = &cmd.remark {
        out.extend_from_slice(b",\"remark\":");
        write_json_str(out, remark);
    }
    write!(out, ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":{}}}", cmd.version).unwrap();
}

/// Write `s` as a JSON string literal (RFC 8259 escaping).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = i32;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
            Ok(v as i32)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
            Ok(v as i32)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i32, E> {
            Ok(v as i32)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
            v.trim().parse().map_err(|_| E::custom(format!("not an integer: {v}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

fn lenient_language<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a language name or code")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(LANGUAGES.get(v as usize).copied().unwrap_or("OTHER").to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            self.visit_u64(v.max(0) as u64)
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
    }
    d.deserialize_any(V)
}

/// extFields: an object whose scalar values are coerced to strings; `null` values are
/// dropped; nested objects/arrays are kept as their JSON text; a `null` object is empty.
fn lenient_ext_fields<'de, D: Deserializer<'de>>(d: D) -> Result<ExtFields, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = ExtFields;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of scalars")
        }
        fn visit_unit<E: de::Error>(self) -> Result<ExtFields, E> {
            Ok(ExtFields::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExtFields, A::Error> {
            let mut out = ExtFields::new();
            while let Some(k) = map.next_key::<String>()? {
                let v: serde_json::Value = map.next_value()?;
                let s = match v {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Number(n) => n.to_string(),
                    other => other.to_string(),
                };
                out.insert(k, s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_ali_ons_style_header() {
        let h = br#"{"code":310,"language":"JAVA","version":121,"opaque":7,"flag":0,"extFields":{"a":"PG","b":"T","d":4,"e":0,"k":false,"x":null}}"#;
        let cmd = decode(h).unwrap();
        assert_eq!(cmd.code, 310);
        assert_eq!(cmd.version, 121);
        assert_eq!(cmd.ext("d"), Some("4"));
        assert_eq!(cmd.ext("e"), Some("0"));
        assert_eq!(cmd.ext("k"), Some("false"));
        assert_eq!(cmd.ext("x"), None);
        assert_eq!(cmd.remark, None);
    }

    #[test]
    fn decodes_numeric_language_and_null_remark() {
        let cmd = decode(br#"{"code":34,"language":9,"remark":null,"extFields":null,"unknown":[1]}"#).unwrap();
        assert_eq!(cmd.language, "GO");
        assert!(cmd.ext_fields.is_empty());
    }

    #[test]
    fn encodes_like_fastjson() {
        let mut cmd = RemotingCommand::success();
        cmd.opaque = 42;
        cmd.ext_fields.insert("queueOffset".into(), "0".into());
        cmd.ext_fields.insert("msgId".into(), "0A0A0A0A00002A9F0000000000000000".into());
        cmd.ext_fields.insert("queueId".into(), "1".into());
        let mut out = Vec::new();
        encode(&cmd, &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"code":0,"extFields":{"msgId":"0A0A0A0A00002A9F0000000000000000","queueId":"1","queueOffset":"0"},"flag":1,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":401}"#
        );
    }

    #[test]
    fn escapes_strings() {
        let mut out = Vec::new();
        write_json_str(&mut out, "a\"b\\c\n\u{1}");
        assert_eq!(std::str::from_utf8(&out).unwrap(), r#""a\"b\\c\n\u0001""#);
    }
}
