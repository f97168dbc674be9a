//! Message filters shared by the broker's pull path, a future POP/gRPC path and the client:
//! RocketMQ's SQL92 property filter ([`SqlExpression`]) and the per-subscription filter
//! ([`MessageFilter`]: all, tag hash codes, or SQL92).
//!
//! The SQL92 dialect is Java's (apache/rocketmq `filter` module, 5.3): `AND OR NOT`,
//! `= <> > >= < <=`, `[NOT] BETWEEN .. AND ..`, `[NOT] IN ('a', ..)`, `IS [NOT] NULL`,
//! `[NOT] CONTAINS|STARTSWITH|ENDSWITH 'x'`, `TRUE`/`FALSE`/`NULL`, single-quoted strings
//! (`''` escapes a quote), int/long (`10`, `10L`) and double (`1.5`, `.5`, `1e3`) literals,
//! parentheses, `--`/`/* */` comments; identifiers name message properties (user properties
//! and system ones such as `TAGS`), exactly as written. Evaluation semantics (NULLs, type
//! conversions) are described in [`eval`](self) and `docs/sql92-filter.md`.
//!
//! An expression is compiled once (per subscription version) and then evaluated against a
//! message's encoded properties without allocating.

mod eval;
mod expr;
mod lexer;
mod parser;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::message::{property, RecordView};
use crate::protocol::body::{SubscriptionData, EXPRESSION_SQL92};

/// Why an expression was refused; the message is meant for a response remark.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid MessageSelector: {message}{}", at.map(|a| format!(" (at offset {a})")).unwrap_or_default())]
pub struct FilterError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the expression, when known.
    pub at: Option<usize>,
}

impl FilterError {
    pub(crate) fn at(at: usize, message: impl Into<String>) -> Self {
        FilterError { message: message.into(), at: Some(at) }
    }

    fn new(message: impl Into<String>) -> Self {
        FilterError { message: message.into(), at: None }
    }
}

/// Where an expression reads message properties from.
pub trait PropertySource {
    /// The value of property `name`, if the message has it.
    fn property(&self, name: &str) -> Option<&str>;

    /// The values of several properties: `out[i]` = [`property`](Self::property)`(names[i])`.
    /// Sources that scan (encoded properties) override it to look all of them up in one pass.
    fn properties<'a>(&'a self, names: &[String], out: &mut [Option<&'a str>]) {
        for (o, n) in out.iter_mut().zip(names) {
            *o = self.property(n);
        }
    }
}

/// A message's properties in RocketMQ's encoded form (`k\u{1}v\u{2}...`, as stored in a
/// record): looked up in place, last occurrence wins (Java decodes into a `HashMap`).
#[derive(Debug, Clone, Copy)]
pub struct EncodedProperties<'a>(pub &'a str);

impl PropertySource for EncodedProperties<'_> {
    fn property(&self, name: &str) -> Option<&str> {
        property::get_property(self.0, name)
    }

    /// One pass over the encoded string for all names, with `get_property`'s rules: a segment
    /// `key\u{1}value` with a non-empty key and value; the last occurrence wins.
    fn properties<'a>(&'a self, names: &[String], out: &mut [Option<&'a str>]) {
        out.iter_mut().for_each(|o| *o = None);
        for (k, v) in property::iter_properties(self.0) {
            for (o, n) in out.iter_mut().zip(names) {
                if n.len() == k.len() && n == k {
                    *o = Some(v);
                }
            }
        }
    }
}

impl<S: std::hash::BuildHasher> PropertySource for HashMap<String, String, S> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl PropertySource for BTreeMap<String, String> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl PropertySource for [(&str, &str)] {
    fn property(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// A compiled SQL92 selector.
#[derive(Clone, PartialEq)]
pub struct SqlExpression {
    source: String,
    root: expr::Node,
    /// Distinct property names the expression reads (the nodes' slots).
    names: Vec<String>,
}

/// Property slots kept on the stack per evaluation; more distinct names use a heap buffer.
const STACK_SLOTS: usize = 16;

impl SqlExpression {
    /// Compile an expression, refusing what Java's parser refuses (and text after the end of
    /// the expression, which Java ignores). Never panics, whatever the input.
    pub fn compile(source: &str) -> Result<Self, FilterError> {
        if source.trim().is_empty() {
            return Err(FilterError::new("the expression is empty"));
        }
        let (root, names) = parser::parse(source)?;
        Ok(SqlExpression { source: source.to_string(), root, names })
    }

    /// [`compile`](Self::compile) through a small process-wide cache keyed by the expression
    /// text (Java's `SelectorParser` keeps one of 100 entries): pulls that carry their
    /// subscription in the header, and many consumers sharing one expression, compile it once.
    /// Refusals are cached too.
    pub fn compile_cached(source: &str) -> Result<Arc<Self>, FilterError> {
        type Cache = HashMap<String, Result<Arc<SqlExpression>, FilterError>>;
        static CACHE: std::sync::OnceLock<parking_lot::Mutex<Cache>> = std::sync::OnceLock::new();
        /// Entries kept; the cache is emptied when full (no per-hit bookkeeping).
        const CAPACITY: usize = 256;
        let cache = CACHE.get_or_init(Default::default);
        if let Some(r) = cache.lock().get(source) {
            return r.clone();
        }
        let r = Self::compile(source).map(Arc::new);
        let mut c = cache.lock();
        if c.len() >= CAPACITY {
            c.clear();
        }
        c.insert(source.to_string(), r.clone());
        r
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Three-valued result: `Some(true/false)`, or `None` for NULL and for an evaluation
    /// error (Java throws, e.g. `a > 5` with `a = 'x'`).
    pub fn evaluate<P: PropertySource + ?Sized>(&self, props: &P) -> Option<bool> {
        let n = self.names.len();
        let mut stack = [None; STACK_SLOTS];
        let mut heap = Vec::new();
        let slots: &mut [Option<&str>] = if n <= STACK_SLOTS {
            &mut stack[..n]
        } else {
            heap.resize(n, None);
            &mut heap
        };
        props.properties(&self.names, slots);
        match eval::eval(&self.root, slots) {
            Ok(eval::Val::Bool(b)) => Some(b),
            _ => None,
        }
    }

    /// True when the expression evaluates to TRUE for these properties (Java's
    /// `isMatchedByCommitLog`).
    pub fn matches<P: PropertySource + ?Sized>(&self, props: &P) -> bool {
        self.evaluate(props) == Some(true)
    }
}

impl fmt::Debug for SqlExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlExpression({})", self.root)
    }
}

impl fmt::Display for SqlExpression {
    /// The canonical (fully parenthesised) form of the compiled tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.root)
    }
}

/// The filter of one subscription, compiled from its [`SubscriptionData`].
#[derive(Debug, Clone)]
pub enum MessageFilter {
    /// `*`: every message.
    All,
    /// Tag hash codes (Java `String.hashCode` of each tag), matched on the consume queue's
    /// tagsCode.
    Tags(Arc<BTreeSet<i32>>),
    /// SQL92 over the message properties (matched on the stored record).
    Sql(Arc<SqlExpression>),
}

impl MessageFilter {
    /// Compile a [normalised](SubscriptionData::normalize) subscription. A TAG subscription
    /// that names no tag matches nothing (as Java's broker filters it); an unknown expression
    /// type or a bad SQL92 expression is an error.
    pub fn compile(sd: &SubscriptionData) -> Result<Self, FilterError> {
        if sd.is_tag_type() {
            return Ok(if sd.is_all() {
                MessageFilter::All
            } else {
                MessageFilter::Tags(Arc::new(sd.effective_codes()))
            });
        }
        if sd.expression_type != EXPRESSION_SQL92 {
            return Err(FilterError::new(format!(
                "expression type '{}' is not supported (TAG or SQL92)",
                sd.expression_type
            )));
        }
        Ok(MessageFilter::Sql(SqlExpression::compile_cached(&sd.sub_string)?))
    }

    /// Consume-queue stage: does a message with this tagsCode pass? (SQL92 filters decide on
    /// the record, so they pass everything here.)
    #[inline]
    pub fn matches_tags_code(&self, tags_code: i64) -> bool {
        match self {
            MessageFilter::Tags(codes) => codes.contains(&(tags_code as i32)),
            _ => true,
        }
    }

    /// The tag hash codes of a tag filter (long polling wakes such a pull only on a matching
    /// arrival); `None` for the others, which any arrival may satisfy.
    pub fn tag_codes(&self) -> Option<Arc<BTreeSet<i32>>> {
        match self {
            MessageFilter::Tags(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// Whether [`matches_record`](Self::matches_record) needs to look at the record.
    #[inline]
    pub fn needs_record(&self) -> bool {
        matches!(self, MessageFilter::Sql(_))
    }

    /// Commit-log stage: does the stored record (its properties) pass? A record that does not
    /// decode does not match.
    pub fn matches_record(&self, record: &[u8]) -> bool {
        match self {
            MessageFilter::Sql(e) => match RecordView::parse(record, false) {
                Ok(v) => e.matches(&EncodedProperties(v.properties)),
                Err(_) => false,
            },
            _ => true,
        }
    }

    /// Whether a message with these properties passes (both stages).
    pub fn matches_properties<P: PropertySource + ?Sized>(&self, props: &P) -> bool {
        match self {
            MessageFilter::All => true,
            MessageFilter::Tags(codes) => props
                .property(property::TAGS)
                .is_some_and(|t| codes.contains(&crate::message::java_hash(t))),
            MessageFilter::Sql(e) => e.matches(props),
        }
    }
}

#[cfg(test)]
mod tests;
