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

use std::cmp::Ordering;
use std::fmt;

/// A piece of the owned text, by position. Invariant: on char boundaries of `ExtFields::own`
/// (spans are only made from `&str` pieces appended to it or from quote-delimited ranges of
/// the UTF-8 header copied into it).
#[derive(Debug, Clone, Copy)]
struct Span {
    at: u32,
    len: u32,
}

/// Byte-wise comparison written out for short keys: a `memcmp` call per comparison was the
/// broker's top symbol when lookups went through `<[u8]>::cmp`.
#[inline]
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

#[inline]
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Extension fields ("custom header") of a command: string keys to string values, unique
/// keys, iterated in alphabetical key order.
#[derive(Clone, Default)]
pub struct ExtFields {
    /// All text: for a decoded command the header text itself (one copy, spans point into
    /// it), then unescaped strings and everything inserted through the API.
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
        ExtFields { own: String::with_capacity(n * 16), entries: Vec::with_capacity(n) }
    }

    #[inline]
    fn text(&self, s: Span) -> &str {
        let at = s.at as usize;
        // `get` keeps this total; by the span invariant it never fails.
        self.own.get(at..at + s.len as usize).unwrap_or_default()
    }

    #[inline]
    fn key_bytes(&self, s: Span) -> &[u8] {
        let at = s.at as usize;
        self.own.as_bytes().get(at..at + s.len as usize).unwrap_or_default()
    }

    /// Index of `key`: a linear scan (a header has ~15 fields; comparing lengths first makes
    /// most probes one integer compare) with a binary search for large maps.
    fn position(&self, key: &str) -> Option<usize> {
        let key = key.as_bytes();
        if self.entries.len() <= 32 {
            self.entries
                .iter()
                .position(|(k, _)| k.len as usize == key.len() && eq_bytes(self.key_bytes(*k), key))
        } else {
            self.slot(key).ok()
        }
    }

    fn slot(&self, key: &[u8]) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| cmp_bytes(self.key_bytes(*k), key))
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
        self.position(key).map(|i| self.text(self.entries[i].1))
    }

    /// True if `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    fn push_own(&mut self, s: &str) -> Span {
        let at = self.own.len();
        self.own.push_str(s);
        Span { at: at as u32, len: s.len() as u32 }
    }

    /// Set `key` to a value written by `write` into the owned buffer (no temporary string:
    /// the typed-header encoders format numbers straight into it).
    pub fn insert_with(&mut self, key: &str, write: impl FnOnce(&mut String)) {
        let at = self.own.len();
        write(&mut self.own);
        let v = Span { at: at as u32, len: (self.own.len() - at) as u32 };
        match self.slot(key.as_bytes()) {
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
        let i = self.position(key)?;
        let (_, v) = self.entries.remove(i);
        Some(self.text(v).to_string())
    }

    /// Make room for `fields` more fields holding `bytes` more bytes of keys and values, so
    /// the inserts that follow do not reallocate (and copy) the text (a client's signing adds
    /// two fields to every request).
    pub fn reserve(&mut self, fields: usize, bytes: usize) {
        self.entries.reserve(fields);
        self.own.reserve(bytes);
    }

    /// Remove every field.
    pub fn clear(&mut self) {
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

/// Incremental builder used by the header decoders: fields are appended in arrival order, as
/// spans into a copy of the header text where no unescaping was needed.
pub(crate) struct ExtBuilder {
    fields: ExtFields,
    /// True while keys arrived in strictly increasing order (the normal case: fastjson and our
    /// own encoder both emit sorted keys), so no sort is needed at the end.
    sorted: bool,
}

/// A piece of decoded text handed to [`ExtBuilder`].
pub(crate) enum Piece<'a> {
    /// `header[at..at + len]`, a quote-delimited (so char-boundary) range of the header text.
    Raw(usize, usize),
    /// Text that is not a plain slice of the header (unescaped, or a literal like `true`).
    Text(&'a str),
}

impl ExtBuilder {
    /// A builder over the header text `header` (copied once: one memcpy instead of one
    /// allocation per field, and no reference into the connection's read buffer).
    pub(crate) fn new(header: &str) -> Self {
        let mut own = String::with_capacity(header.len() + 32);
        own.push_str(header);
        ExtBuilder { fields: ExtFields { own, entries: Vec::with_capacity(16) }, sorted: true }
    }

    fn span(&mut self, p: Piece<'_>) -> Span {
        match p {
            Piece::Raw(at, len) => Span { at: at as u32, len: len as u32 },
            Piece::Text(t) => self.fields.push_own(t),
        }
    }

    /// Append one field (a later duplicate key wins, as with map inserts).
    pub(crate) fn push(&mut self, key: Piece<'_>, value: Piece<'_>) {
        let k = self.span(key);
        let v = self.span(value);
        if let Some((last, _)) = self.fields.entries.last() {
            if cmp_bytes(self.fields.key_bytes(*last), self.fields.key_bytes(k)) != Ordering::Less {
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
            entries.sort_by(|a, b| cmp_bytes(f.key_bytes(a.0), f.key_bytes(b.0)));
            entries.reverse();
            entries.dedup_by(|a, b| f.key_bytes(a.0) == f.key_bytes(b.0));
            entries.reverse();
            f.entries = entries;
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
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()
        );
        assert_eq!(f.get("a"), Some("4"));
        assert_eq!(f.remove("a").as_deref(), Some("4"));
        assert!(!f.contains_key("a"));
        assert_eq!(f.len(), 4);
        assert_eq!(
            f,
            ExtFields::from(BTreeMap::from([
                ("b".to_string(), "1".to_string()),
                ("c".into(), "3".into()),
                ("".into(), "e".into()),
                ("é".into(), "x".into())
            ]))
        );
        f.clear();
        assert!(f.is_empty());
        assert_eq!(format!("{f:?}"), "{}");
    }

    #[test]
    fn builder_sorts_and_keeps_last_duplicate() {
        let mut b = ExtBuilder::new("zyxa");
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
