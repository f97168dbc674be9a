//! The JSON header (serialize type 0, spec §1.2): lenient decode, strict compact encode.
//!
//! Real clients send surprising JSON (spec §12): extFields values as numbers or booleans
//! (ali-ons, rocketmq-client-cpp), no `serializeTypeCurrentRPC`, `remark: null`, `language` as
//! a string or a number. We accept all of it. On output we emit exactly what fastjson does:
//! compact, keys in alphabetical order, every extFields value a string, null members omitted.

use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::command::{ExtFields, RemotingCommand, SerializeType};

/// Language names by binary code (0..13), shared with the binary header.
pub const LANGUAGES: [&str; 14] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP",
    "OMS", "RUST", "NODE_JS",
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
///
/// A hand-written scanner handles the shape every client sends (one flat object, plain
/// strings, integers, booleans, null) in one pass; anything else (escapes, nested values,
/// floats, duplicate keys, malformed input) falls back to the lenient serde decoder, so the
/// result and the errors are the same either way. The fast path exists because header
/// decoding was the broker's largest per-message cost after allocation (issue 7 profile).
pub fn decode(bytes: &[u8]) -> Result<RemotingCommand, serde_json::Error> {
    decode_shared(&Bytes::copy_from_slice(bytes))
}

/// [`decode`] of a header held in shared memory (the frame decoder's case): the command's
/// `ext_fields` point into `bytes` instead of copying every key and value.
pub fn decode_shared(bytes: &Bytes) -> Result<RemotingCommand, serde_json::Error> {
    if let Some(cmd) = fast::decode(bytes) {
        return Ok(cmd);
    }
    decode_serde(bytes)
}

/// The serde decoder (reference semantics).
fn decode_serde(bytes: &[u8]) -> Result<RemotingCommand, serde_json::Error> {
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
    encode_into(cmd, out);
}

/// Where [`encode_into`] writes: a `Vec` or, for the frame encoder, the connection's
/// `BytesMut` directly (no intermediate header buffer).
pub trait JsonOut {
    /// Append bytes.
    fn put(&mut self, b: &[u8]);
}

impl JsonOut for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

impl JsonOut for bytes::BytesMut {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

fn put_int<O: JsonOut + ?Sized>(out: &mut O, n: i64) {
    out.put(super::ext_fields::int_text(n, &mut [0u8; 20]).as_bytes());
}

/// Append the compact JSON header of `cmd` to any [`JsonOut`]: keys in alphabetical order,
/// every extFields value a string, null members omitted (what fastjson emits).
pub fn encode_into<O: JsonOut + ?Sized>(cmd: &RemotingCommand, out: &mut O) {
    out.put(b"{\"code\":");
    put_int(out, cmd.code as i64);
    if !cmd.ext_fields.is_empty() || cmd.is_response() {
        // Java clients dereference `extFields` of responses unconditionally (SEND), so a
        // response always carries the object, possibly empty.
        out.put(b",\"extFields\":{");
        for (i, (k, v)) in cmd.ext_fields.iter().enumerate() {
            if i > 0 {
                out.put(b",");
            }
            write_json_str_into(out, k);
            out.put(b":");
            write_json_str_into(out, v);
        }
        out.put(b"}");
    }
    out.put(b",\"flag\":");
    put_int(out, cmd.flag as i64);
    out.put(b",\"language\":");
    write_json_str_into(out, if cmd.language.is_empty() { "JAVA" } else { &cmd.language });
    out.put(b",\"opaque\":");
    put_int(out, cmd.opaque as i64);
    if let Some(remark) = &cmd.remark {
        out.put(b",\"remark\":");
        write_json_str_into(out, remark);
    }
    out.put(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    put_int(out, cmd.version as i64);
    out.put(b"}");
}

/// Write `s` as a JSON string literal (RFC 8259 escaping).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    write_json_str_into(out, s);
}

fn write_json_str_into<O: JsonOut + ?Sized>(out: &mut O, s: &str) {
    let bytes = s.as_bytes();
    // Common case (ids, names, numbers): nothing to escape, one copy.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.put(b"\"");
        out.put(bytes);
        out.put(b"\"");
        return;
    }
    out.put(b"\"");
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
        out.put(&bytes[start..i]);
        match esc {
            Some(e) => out.put(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ]);
            }
        }
        start = i + 1;
    }
    out.put(&bytes[start..]);
    out.put(b"\"");
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
                out.insert_str(&k, &s);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// Single-pass decoder for plain headers; `None` = let serde decide.
mod fast {
    use super::super::command::{ExtFields, RemotingCommand, SerializeType};
    use super::super::ext_fields::{ExtBuilder, Piece};
    use super::LANGUAGES;
    use bytes::Bytes;
    use std::borrow::Cow;

    /// A scalar JSON value as it appears in the text.
    enum Scalar<'a> {
        Str(Cow<'a, str>),
        /// Integer literal text.
        Int(&'a str),
        Bool(bool),
        Null,
    }

    struct P<'a> {
        s: &'a [u8],
        /// `s` as text: the whole header is validated as UTF-8 once up front, so strings are
        /// sliced out of it without validating each again.
        t: &'a str,
        i: usize,
    }

    impl<'a> P<'a> {
        fn ws(&mut self) {
            while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> Option<()> {
            self.ws();
            (self.s.get(self.i) == Some(&c)).then(|| self.i += 1)
        }
        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.s.get(self.i).copied()
        }
        /// A string (escapes decoded); `None` on control characters, bad escapes or lone
        /// surrogates (serde decides those).
        fn string(&mut self) -> Option<Cow<'a, str>> {
            self.eat(b'"')?;
            let start = self.i;
            while self.i < self.s.len() {
                match self.s[self.i] {
                    b'"' => {
                        let t = self.t.get(start..self.i)?;
                        self.i += 1;
                        return Some(Cow::Borrowed(t));
                    }
                    // Property strings carry \u0001 / \u0002 separators: escapes are common.
                    b'\\' => return self.escaped(start),
                    0..=0x1f => return None,
                    _ => self.i += 1,
                }
            }
            None
        }
        /// Slow part of [`P::string`]: from the first backslash on.
        fn escaped(&mut self, start: usize) -> Option<Cow<'a, str>> {
            let mut out = String::from(self.t.get(start..self.i)?);
            loop {
                let run = self.i;
                while self.i < self.s.len() && !matches!(self.s[self.i], b'"' | b'\\' | 0..=0x1f) {
                    self.i += 1;
                }
                out.push_str(self.t.get(run..self.i)?);
                match *self.s.get(self.i)? {
                    b'"' => {
                        self.i += 1;
                        return Some(Cow::Owned(out));
                    }
                    b'\\' => {
                        let c = *self.s.get(self.i + 1)?;
                        self.i += 2;
                        match c {
                            b'"' => out.push('"'),
                            b'\\' => out.push('\\'),
                            b'/' => out.push('/'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'n' => out.push('\n'),
                            b'r' => out.push('\r'),
                            b't' => out.push('\t'),
                            b'u' => {
                                let hex =
                                    std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                                let cp = u32::from_str_radix(hex, 16).ok()?;
                                self.i += 4;
                                // Surrogates (pairs or lone): serde's business.
                                out.push(char::from_u32(cp)?);
                            }
                            _ => return None,
                        }
                    }
                    _ => return None,
                }
            }
        }
        fn literal(&mut self, word: &[u8]) -> Option<()> {
            self.s[self.i..].starts_with(word).then(|| self.i += word.len())
        }
        fn scalar(&mut self) -> Option<Scalar<'a>> {
            match self.peek()? {
                b'"' => self.string().map(Scalar::Str),
                b't' => self.literal(b"true").map(|_| Scalar::Bool(true)),
                b'f' => self.literal(b"false").map(|_| Scalar::Bool(false)),
                b'n' => self.literal(b"null").map(|_| Scalar::Null),
                b'-' | b'0'..=b'9' => {
                    let start = self.i;
                    if self.s[self.i] == b'-' {
                        self.i += 1;
                    }
                    let digits = self.i;
                    while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                        self.i += 1;
                    }
                    // Floats, exponents and leading zeros: serde's business.
                    if self.i == digits
                        || &self.s[start..self.i] == b"-0"
                        || matches!(self.s.get(self.i), Some(b'.' | b'e' | b'E'))
                        || (self.s[digits] == b'0' && self.i - digits > 1)
                    {
                        return None;
                    }
                    self.t.get(start..self.i).map(Scalar::Int)
                }
                _ => None,
            }
        }
    }

    fn int(v: Scalar<'_>) -> Option<i32> {
        match v {
            Scalar::Int(t) => t.parse::<i64>().ok().map(|n| n as i32),
            Scalar::Str(t) => t.trim().parse::<i32>().ok(),
            Scalar::Null => Some(0),
            Scalar::Bool(_) => None,
        }
    }

    /// Position of `t` (a slice of `p.s`) in the header text.
    // `&Cow`, not `&str`: whether the text was borrowed from the header decides the piece kind.
    #[allow(clippy::ptr_arg)]
    fn piece<'t>(p: &P<'_>, t: &'t Cow<'_, str>) -> Piece<'t> {
        match t {
            Cow::Borrowed(b) => Piece::Raw(b.as_ptr() as usize - p.s.as_ptr() as usize, b.len()),
            Cow::Owned(o) => Piece::Text(o),
        }
    }

    fn ext_fields(p: &mut P<'_>) -> Option<ExtFields> {
        if p.peek()? == b'n' {
            p.literal(b"null")?;
            return Some(ExtFields::new());
        }
        p.eat(b'{')?;
        if p.peek()? == b'}' {
            p.i += 1;
            return Some(ExtFields::new());
        }
        let mut out = ExtBuilder::new(p.t);
        loop {
            let k = p.string()?;
            p.eat(b':')?;
            // `null` values are skipped (an earlier value of the key stays), as the serde path.
            match p.scalar()? {
                Scalar::Str(t) => out.push(piece(p, &k), piece(p, &t)),
                Scalar::Int(t) => out.push(piece(p, &k), piece(p, &Cow::Borrowed(t))),
                Scalar::Bool(b) => {
                    out.push(piece(p, &k), Piece::Text(if b { "true" } else { "false" }))
                }
                Scalar::Null => {}
            }
            match p.peek()? {
                b',' => p.i += 1,
                b'}' => {
                    p.i += 1;
                    return Some(out.finish());
                }
                _ => return None,
            }
        }
    }

    /// Decode `bytes` if it is a plain header.
    pub(super) fn decode(raw: &Bytes) -> Option<RemotingCommand> {
        let bytes: &[u8] = raw;
        // Invalid UTF-8 anywhere is malformed JSON: serde reports it.
        let text = std::str::from_utf8(bytes).ok()?;
        let mut p = P { s: bytes, t: text, i: 0 };
        let mut cmd = RemotingCommand {
            code: 0,
            language: String::new(),
            version: 0,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Default::default(),
            serialize_type: SerializeType::Json,
        };
        let mut seen = 0u32;
        p.eat(b'{')?;
        if p.peek()? != b'}' {
            loop {
                let k = p.string()?;
                p.eat(b':')?;
                let bit = match &*k {
                    "code" => 1,
                    "language" => 2,
                    "version" => 4,
                    "opaque" => 8,
                    "flag" => 16,
                    "remark" => 32,
                    "extFields" => 64,
                    _ => 0,
                };
                if seen & bit != 0 {
                    return None; // duplicate field: serde reports it
                }
                seen |= bit;
                match &*k {
                    "code" => cmd.code = int(p.scalar()?)?,
                    "version" => cmd.version = int(p.scalar()?)?,
                    "opaque" => cmd.opaque = int(p.scalar()?)?,
                    "flag" => cmd.flag = int(p.scalar()?)?,
                    "language" => {
                        cmd.language = match p.scalar()? {
                            Scalar::Str(t) => t.into_owned(),
                            Scalar::Int(t) => {
                                let n = t.parse::<i64>().ok()?.max(0) as u64;
                                LANGUAGES.get(n as usize).copied().unwrap_or("OTHER").to_owned()
                            }
                            Scalar::Null => String::new(),
                            Scalar::Bool(_) => return None,
                        }
                    }
                    "remark" => {
                        cmd.remark = match p.scalar()? {
                            Scalar::Str(t) => Some(t.into_owned()),
                            Scalar::Null => None,
                            _ => return None,
                        }
                    }
                    "extFields" => cmd.ext_fields = ext_fields(&mut p)?,
                    _ => {
                        p.scalar()?;
                    }
                }
                match p.peek()? {
                    b',' => p.i += 1,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        p.eat(b'}')?;
        p.ws();
        (p.i == bytes.len()).then_some(cmd)
    }
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
        let cmd =
            decode(br#"{"code":34,"language":9,"remark":null,"extFields":null,"unknown":[1]}"#)
                .unwrap();
        assert_eq!(cmd.language, "GO");
        assert!(cmd.ext_fields.is_empty());
    }

    #[test]
    fn fast_path_agrees_with_serde() {
        let cases: &[&[u8]] = &[
            br#"{"code":310,"language":"JAVA","version":121,"opaque":7,"flag":0,"extFields":{"a":"PG","b":"T","d":4,"e":0,"k":false,"x":null}}"#,
            br#"{"code":34,"language":9,"remark":null,"extFields":null}"#,
            br#" { "code" : "12" , "extFields" : { } , "serializeTypeCurrentRPC":"JSON" , "opaque":-5 } "#,
            br#"{"code":0,"extFields":{"msgId":"0A0A","queueId":"1"},"flag":1,"language":"JAVA","opaque":42,"remark":"r","serializeTypeCurrentRPC":"JSON","version":401}"#,
            br#"{"code":1,"extFields":{"a":"x","a":"y"}}"#,
            br#"{"code":1,"extFields":{"a":"x","a":null}}"#,
            br#"{"code":1,"opaque":99999999999}"#,
            br#"{}"#,
            br#"{"code":1,"remark":"a\"b\\c\/\n\u00e9\u0001","extFields":{"properties":"TAGS\u0001t\u0002KEYS\u0001k\u0002","k\u0041":"v"}}"#,
        ];
        for c in cases {
            let fast = fast::decode(&Bytes::copy_from_slice(c))
                .unwrap_or_else(|| panic!("fast path declined {}", String::from_utf8_lossy(c)));
            let slow = decode_serde(c).unwrap();
            assert_eq!(
                (
                    fast.code,
                    &fast.language,
                    fast.version,
                    fast.opaque,
                    fast.flag,
                    &fast.remark,
                    &fast.ext_fields
                ),
                (
                    slow.code,
                    &slow.language,
                    slow.version,
                    slow.opaque,
                    slow.flag,
                    &slow.remark,
                    &slow.ext_fields
                ),
                "{}",
                String::from_utf8_lossy(c)
            );
        }
        // Declined (serde decides): escapes, nesting, floats, duplicates, garbage, trailing data.
        let declined: &[&[u8]] = &[
            br#"{"code":1,"remark":"\ud800"}"#,
            br#"{"code":1,"remark":"\x"}"#,
            br#"{"code":1,"unknown":[1]}"#,
            br#"{"code":1.5}"#,
            br#"{"code":1,"code":2}"#,
            br#"{"code":1"#,
            br#"{"code":1} x"#,
            br#"{"code":01}"#,
        ];
        for c in declined {
            assert!(
                fast::decode(&Bytes::copy_from_slice(c)).is_none(),
                "{}",
                String::from_utf8_lossy(c)
            );
            let _ = decode(c); // must not panic
        }
        assert_eq!(
            decode(br#"{"code":1,"remark":"a\"b"}"#).unwrap().remark.as_deref(),
            Some("a\"b")
        );
        assert!(decode(br#"{"code":1,"code":2}"#).is_err());
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
