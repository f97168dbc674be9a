//! [`ExtFields`]: the custom-header fields of a command, a small string map that costs a few
//! allocations per command instead of two per field.
//!
//! Why not a `BTreeMap<String, String>` (what this replaced): a SEND request carries ~13
//! fields, so decoding one allocated ~26 strings plus tree nodes and ran ordered inserts with
//! `memcmp`; the issue-7 profile put that at the top of the broker's per-message cost. Here a
//! decoded command keeps its header text (a shared, reference-counted slice of the frame) and
//! fields are `(offset, length)` spans into it; text that had to be unescaped or was inserted
//! later goes into one owned side buffer. Entries are kept sorted by key with unique keys,
//! so iteration is alphabetical (the order fastjson emits, which keeps encoded frames
//! deterministic) and lookups are a binary search over a handful of entries.

use std::fmt;

use bytes::Bytes;

/// Where a span's text lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// In the shared header text (`ExtFields::raw`).
    Raw,
    /// In the owned side buffer (`ExtFields::own`).
    Own,
}

/// A piece of text, by position. Invariant: always a valid UTF-8 range (on char boundaries)
/// of its source, checked when the span is created.
#[derive(Debug, Clone, Copy)]
struct Span {
    src: Src,
    at: u32,
    len: u32,
}

/// Extension fields ("custom header") of a command: string keys to string values, unique
/// keys, iterated in alphabetical key order.
#[derive(Clone, Default)]
pub struct ExtFields {
    /// Shared header text spans of kind [`Src::Raw`] point into. Only ever set by the decoders
    /// (`from_raw_parts`), which validate every span they create as UTF-8.
    raw: Bytes,
    /// Owned text: unescaped decoded strings and everything inserted through the API.
    own: String,
    /// `(key, value)`, sorted by key bytes, unique keys.
    entries: Vec<(Span, Span)>,
}

impl ExtFields {
    /// An empty map (does not allocate).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        ExtFields { raw: Bytes::new(), own: String::with_capacity(n * 16), entries: Vec::with_capacity(n) }
    }

    fn text(&self, s: Span) -> &str {
        let (at, len) = (s.at as usize, s.len as usize);
        match s.src {
            // SAFETY-free: both sources are checked UTF-8 at span creation; `get` keeps this
            // total (an out-of-range or misaligned span would give "" rather than panic).
            Src::Raw => std::str::from_utf8(self.raw.get(at..at + len).unwrap_or_default()).unwrap_or_default(),
            Src::Own => self.own.get(at..at + len).unwrap_or_default(),
        }
    }

    fn key_bytes(&self, s: Span) -> &[u8] {
        let (at, len) = (s.at as usize, s.len as usize);
        match s.src {
            Src::Raw => self.raw.get(at..at + len).unwrap_or_default(),
            Src::Own => self.own.as_bytes().get(at..at + len).unwrap_or_default(),
        }
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        let key = key.as_bytes();
        self.entries.binary_search_by(|(k, _)| self.key_bytes(*k).cmp(key))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.find(key).ok().map(|i| self.text(self.entries[i].1))
    }

    /// True if `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    fn push_own(&mut self, s: &str) -> Span {
        let at = self.own.len();
        self.own.push_str(s);
        Span { src: Src::Own, at: at as u32, len: s.len() as u32 }
    }

    /// Set `key` to a value written by `write` into the owned buffer (no temporary string:
    /// the typed-header encoders format numbers straight into it).
    pub fn insert_with(&mut self, key: &str, write: impl FnOnce(&mut String)) {
        let at = self.own.len();
        write(&mut self.own);
        let v = Span { src: Src::Own, at: at as u32, len: (self.own.len() - at) as u32 };
        match self.find(key) {
            Ok(i) => self.entries[i].1 = v, // the old text stays as garbage until `clear`
            Err(i) => {
                let k = self.push_own(key);
                self.entries.insert(i, (k, v));
            }
        }
    }

    /// Set `key` to `value` (copies both into the owned buffer).
    pub fn insert_str(&mut self, key: &str, value: &str) {
        self.insert_with(key, |o| o.push_str(value));
    }

    /// Set `key` to `value` (the `BTreeMap`-compatible form; existing callers pass `String`s).
    pub fn insert(&mut self, key: String, value: String) {
        self.insert_str(&key, &value);
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.find(key).ok()?;
        let (_, v) = self.entries.remove(i);
        Some(self.text(v).to_string())
    }

    /// Remove every field.
    pub fn clear(&mut self) {
        self.raw = Bytes::new();
        self.own.clear();
        self.entries.clear();
    }

    /// `(key, value)` pairs in alphabetical key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(k, v)| (self.text(*k), self.text(*v)))
    }

    /// Keys in alphabetical order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|(k, _)| self.text(*k))
    }
}

/// Incremental builder used by the header decoders: fields are appended in arrival order, spans
/// into the shared header text where no unescaping was needed.
pub(crate) struct ExtBuilder {
    fields: ExtFields,
    /// True while keys arrived in strictly increasing order (the normal case: fastjson and our
    /// own encoder both emit sorted keys), so no sort is needed at the end.
    sorted: bool,
}

/// A piece of decoded text handed to [`ExtBuilder`].
pub(crate) enum Piece<'a> {
    /// `raw[at..at + len]`, already validated as UTF-8 by the caller.
    Raw(usize, usize),
    /// Text that is not a plain slice of the header (unescaped, or a literal like `true`).
    Text(&'a str),
}

impl ExtBuilder {
    /// A builder over the header text `raw`.
    pub(crate) fn new(raw: Bytes) -> Self {
        ExtBuilder { fields: ExtFields { raw, own: String::new(), entries: Vec::with_capacity(16) }, sorted: true }
    }

    fn span(&mut self, p: Piece<'_>) -> Span {
        match p {
            Piece::Raw(at, len) => Span { src: Src::Raw, at: at as u32, len: len as u32 },
            Piece::Text(t) => self.fields.push_own(t),
        }
    }

    /// Append one field (a later duplicate key wins, as with map inserts).
    pub(crate) fn push(&mut self, key: Piece<'_>, value: Piece<'_>) {
        let k = self.span(key);
        let v = self.span(value);
        if let Some((last, _)) = self.fields.entries.last() {
            if self.fields.key_bytes(*last) >= self.fields.key_bytes(k) {
                self.sorted = false;
            }
        }
        self.fields.entries.push((k, v));
    }

    /// The finished map: sorted, duplicates resolved to their last value.
    pub(crate) fn finish(mut self) -> ExtFields {
        if !self.sorted {
            let f = &mut self.fields;
            let mut entries = std::mem::take(&mut f.entries);
            // Stable sort keeps arrival order among equal keys; after reversing, the last
            // arrival comes first and `dedup` keeps it.
            entries.sort_by(|a, b| f.key_bytes(a.0).cmp(f.key_bytes(b.0)));
            entries.reverse();
            entries.dedup_by(|a, b| f.key_bytes(a.0) == f.key_bytes(b.0));
            entries.reverse();
            f.entries = entries;
        }
        if self.fields.entries.iter().all(|(k, v)| k.src == Src::Own && v.src == Src::Own) {
            // Nothing borrows the header: do not keep the frame's memory alive.
            self.fields.raw = Bytes::new();
        }
        self.fields
    }
}

impl PartialEq for ExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut f = ExtFields::new();
        f.extend(iter);
        f
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for ExtFields {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert_str(k.as_ref(), v.as_ref());
        }
    }
}

impl From<std::collections::BTreeMap<String, String>> for ExtFields {
    fn from(m: std::collections::BTreeMap<String, String>) -> Self {
        m.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a ExtFields {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Append the decimal text of `n` to `out` without going through `fmt` (hot: every typed
/// header number on the send path is written this way).
pub fn push_int(out: &mut String, n: i64) {
    out.push_str(int_text(n, &mut [0u8; 20]));
}

/// The decimal text of `n`, formatted into `buf`.
pub fn int_text(n: i64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        // 19 digits at most for |i64::MIN|, so index 0 is free for the sign.
        i -= 1;
        buf[i] = b'-';
    }
    // The bytes are ASCII digits and '-'.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_like_a_sorted_map() {
        let mut f = ExtFields::new();
        let mut m = BTreeMap::new();
        for (k, v) in [("b", "1"), ("a", "2"), ("c", "3"), ("a", "4"), ("", "e"), ("é", "x")] {
            f.insert(k.into(), v.into());
            m.insert(k.to_string(), v.to_string());
        }
        assert_eq!(f.iter().collect::<Vec<_>>(), m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
        assert_eq!(f.get("a"), Some("4"));
        assert_eq!(f.remove("a").as_deref(), Some("4"));
        assert!(!f.contains_key("a"));
        assert_eq!(f.len(), 4);
        assert_eq!(f, ExtFields::from(BTreeMap::from([("b".to_string(), "1".to_string()), ("c".into(), "3".into()), ("".into(), "e".into()), ("é".into(), "x".into())])));
        f.clear();
        assert!(f.is_empty());
        assert_eq!(format!("{f:?}"), "{}");
    }

    #[test]
    fn builder_sorts_and_keeps_last_duplicate() {
        let raw = Bytes::from_static(b"zyxa");
        let mut b = ExtBuilder::new(raw);
        b.push(Piece::Raw(0, 1), Piece::Text("1"));
        b.push(Piece::Raw(3, 1), Piece::Raw(1, 1));
        b.push(Piece::Text("z"), Piece::Text("2"));
        let f = b.finish();
        assert_eq!(f.iter().collect::<Vec<_>>(), vec![("a", "y"), ("z", "2")]);
    }

    #[test]
    fn ints() {
        for n in [0i64, 7, -7, 10, 1234567890123, i64::MIN, i64::MAX] {
            let mut s = String::new();
            push_int(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
