//! The one normalisation of a consumer subscription ([`SubscriptionData`]), applied wherever a
//! subscription enters the broker (HEART_BEAT bodies, PULL_MESSAGE's subscription header) and
//! wherever one is built (clients, admin tools).
//!
//! Why: clients disagree on what they send. Java sends `codeSet` as numbers, Go as strings,
//! ali-ons omits `expressionType`, and rocketmq-client-cpp 1.x sends `codeSet` = `atoi(tag)`
//! (0 for any non-numeric tag). The broker filters the consume queue on tag hash codes, so the
//! codes must always be recomputed from the expression exactly as Java's
//! `FilterAPI.buildSubscriptionData` does: split on `||`, trim with Java's `String.trim`, skip
//! empty pieces, hash each tag with Java's `String.hashCode` (UTF-16 code units).

use std::collections::BTreeSet;

use super::SubscriptionData;
use crate::message::java_hash;

/// `expressionType` of a tag expression (`*` or `a || b`).
pub const EXPRESSION_TAG: &str = "TAG";
/// `expressionType` of an SQL92 property filter (not evaluated by this broker).
pub const EXPRESSION_SQL92: &str = "SQL92";
/// The subscription expression that matches every message.
pub const SUB_ALL: &str = "*";

/// Why a subscription cannot be used as a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// A TAG expression with separators only (e.g. `||`): Java's client throws
    /// "subString split error" and its broker answers SUBSCRIPTION_PARSE_FAILED.
    #[error("tag expression '{0}' names no tag")]
    NoTags(String),
    /// A non-TAG expression (SQL92) with an empty expression (Java: "Expression can't be null").
    #[error("{0} expression is empty")]
    EmptyExpression(String),
}

/// Java's `String.trim`: strips every char `<= ' '` (ASCII controls and space) at both ends,
/// and nothing else. Rust's `str::trim` would also strip Unicode spaces (NBSP, U+3000), which
/// would change the tag — and therefore its hash code — compared with a Java client.
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// The tags of a TAG expression, by RocketMQ's rules: split on `||`, [`java_trim`] each piece,
/// drop empty pieces. `*` and blank expressions are *not* special here (see
/// [`SubscriptionData::normalize`]).
pub fn parse_tags(expr: &str) -> BTreeSet<String> {
    expr.split("||").map(java_trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// True for a blank `expressionType` or `TAG` (any case): Java's `ExpressionType.isTagType`
/// accepts null/empty/`TAG`; ignoring case costs nothing and helps hand-written clients.
pub fn is_tag_type(expression_type: &str) -> bool {
    let t = expression_type.trim();
    t.is_empty() || t.eq_ignore_ascii_case(EXPRESSION_TAG)
}

impl SubscriptionData {
    /// A subscription as received from the wire (PULL_MESSAGE header, admin request):
    /// fills the fields and [`normalize`](Self::normalize)s them.
    pub fn from_expression(
        topic: &str,
        sub_string: &str,
        expression_type: Option<&str>,
        sub_version: i64,
    ) -> Result<Self, SubscriptionError> {
        let mut sd = SubscriptionData {
            topic: topic.to_string(),
            sub_string: sub_string.to_string(),
            expression_type: expression_type.unwrap_or_default().to_string(),
            sub_version,
            ..Default::default()
        };
        sd.normalize()?;
        Ok(sd)
    }

    /// Bring a received subscription to its canonical form, in place:
    /// - `expressionType`: blank → `TAG`; `tag`/`sql92` in any case → `TAG`/`SQL92`;
    /// - TAG: blank or `*` (after [`java_trim`]) → `subString` = `*`, no tags, no codes
    ///   (matches everything); otherwise `tagsSet` = [`parse_tags`] and `codeSet` = Java
    ///   `hashCode` of each tag, whatever the client sent in those two fields;
    /// - SQL92: `tagsSet`/`codeSet` cleared (they mean nothing for SQL).
    ///
    /// `classFilterMode` keeps what was sent (serde default `false`); class filters are not
    /// supported, and the pull path never reads it.
    ///
    /// On error the subscription is still normalised (codes empty, matching nothing, as a
    /// Java broker would filter it): the heartbeat path keeps it and logs, the pull path
    /// answers SUBSCRIPTION_PARSE_FAILED.
    pub fn normalize(&mut self) -> Result<(), SubscriptionError> {
        let ty = self.expression_type.trim();
        self.expression_type = if ty.is_empty() || ty.eq_ignore_ascii_case(EXPRESSION_TAG) {
            EXPRESSION_TAG.to_string()
        } else if ty.eq_ignore_ascii_case(EXPRESSION_SQL92) {
            EXPRESSION_SQL92.to_string()
        } else {
            ty.to_string()
        };
        if self.expression_type != EXPRESSION_TAG {
            self.tags_set.clear();
            self.code_set.clear();
            if self.sub_string.trim().is_empty() {
                return Err(SubscriptionError::EmptyExpression(self.expression_type.clone()));
            }
            return Ok(());
        }
        let expr = java_trim(&self.sub_string);
        // Java treats only the exact "*" and "" as match-all; we also accept them padded,
        // which no real client relies on the other way round (a tag literally named "*").
        if expr.is_empty() || expr == SUB_ALL {
            self.sub_string = SUB_ALL.to_string();
            self.tags_set.clear();
            self.code_set.clear();
            return Ok(());
        }
        self.tags_set = parse_tags(expr);
        self.code_set = self.tags_set.iter().map(|t| java_hash(t)).collect();
        if self.tags_set.is_empty() {
            return Err(SubscriptionError::NoTags(self.sub_string.clone()));
        }
        Ok(())
    }

    /// [`normalize`](Self::normalize) by value, ignoring the error (the result then matches
    /// nothing): for callers that only build well-formed subscriptions.
    pub fn normalized(mut self) -> Self {
        let _ = self.normalize();
        self
    }

    /// True if this is a TAG subscription (see [`is_tag_type`]).
    pub fn is_tag_type(&self) -> bool {
        is_tag_type(&self.expression_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(v: &[i32]) -> BTreeSet<i32> {
        v.iter().copied().collect()
    }

    #[test]
    fn splits_on_double_bar_trims_and_skips_empty_pieces() {
        let sd =
            SubscriptionData::from_expression("T", " TAG1 || Tag2||tag3 |||| ", None, 7).unwrap();
        assert_eq!(sd.tags_set, ["TAG1", "Tag2", "tag3"].iter().map(|s| s.to_string()).collect());
        assert_eq!(sd.code_set.len(), 3);
        assert!(sd.code_set.contains(&java_hash("Tag2")));
        assert_eq!(sd.expression_type, EXPRESSION_TAG);
        assert_eq!(sd.sub_version, 7);
        // A single bar is part of the tag, as in Java's split("\\|\\|").
        let sd = SubscriptionData::from_expression("T", "a|b", None, 0).unwrap();
        assert_eq!(sd.tags_set.len(), 1);
        assert!(sd.tags_set.contains("a|b"));
    }

    #[test]
    fn star_and_blank_match_all() {
        for e in ["*", "", "  ", " * ", "\t*\n"] {
            let sd = SubscriptionData::from_expression("T", e, Some("TAG"), 0).unwrap();
            assert!(sd.is_all(), "{e:?}");
            assert_eq!(sd.sub_string, "*");
            assert!(sd.tags_set.is_empty() && sd.code_set.is_empty());
        }
    }

    #[test]
    fn separators_only_is_a_parse_error_that_matches_nothing() {
        let mut sd = SubscriptionData {
            topic: "T".into(),
            sub_string: "|| ||".into(),
            ..Default::default()
        };
        assert_eq!(sd.normalize(), Err(SubscriptionError::NoTags("|| ||".into())));
        assert!(!sd.is_all());
        assert!(sd.code_set.is_empty());
    }

    #[test]
    fn recomputes_codes_whatever_the_client_sent() {
        // rocketmq-client-cpp 1.x: codeSet = atoi("TagA") = 0, no expressionType.
        let mut sd = SubscriptionData {
            topic: "T".into(),
            sub_string: "TagA".into(),
            tags_set: ["TagA".to_string()].into_iter().collect(),
            code_set: codes(&[0]),
            expression_type: String::new(),
            ..Default::default()
        };
        sd.normalize().unwrap();
        assert_eq!(sd.code_set, codes(&[2598919]));
        assert_eq!(sd.expression_type, "TAG");
        // A tagsSet that disagrees with subString: subString wins (it is what Java parses).
        let mut sd = SubscriptionData {
            sub_string: "x".into(),
            tags_set: ["y".to_string()].into_iter().collect(),
            ..Default::default()
        };
        sd.normalize().unwrap();
        assert_eq!(sd.code_set, codes(&[120]));
    }

    /// Java's `String.hashCode` is `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units with
    /// int overflow (java.lang.String; RocketMQ's FilterAPI and the CQ tagsCode both call it).
    /// Expected values computed independently (Python, over `encode('utf-16-be')` units with
    /// 32-bit wrap-around) and re-checked with the formula in i64 arithmetic below.
    #[test]
    fn non_ascii_tags_hash_like_java() {
        let java = |s: &str| -> i32 {
            let mut h: i64 = 0;
            for u in s.encode_utf16() {
                h = (h * 31 + u as i64) & 0xFFFF_FFFF;
            }
            h as u32 as i32
        };
        // "中文" = U+4E2D U+6587: 0x4E2D*31 + 0x6587 = 646394.
        let sd =
            SubscriptionData::from_expression("T", "中文 || naïve || 😀 || 标签甲乙丙", None, 0)
                .unwrap();
        assert!(sd.code_set.contains(&646_394));
        // "naïve": ï is U+00EF (one code unit), not its two UTF-8 bytes (what client-cpp hashes).
        assert!(sd.code_set.contains(&104_710_475));
        // Outside the BMP: the surrogate pair D83D DE00.
        assert!(sd.code_set.contains(&(0xD83D * 31 + 0xDE00)));
        for t in &sd.tags_set {
            assert!(sd.code_set.contains(&java(t)), "{t}");
        }
        // Long enough to overflow: wraps to a negative int like Java's.
        assert!(sd.code_set.contains(&-204_229_669));
    }

    #[test]
    fn java_trim_keeps_unicode_spaces() {
        // U+3000 (ideographic space) is not <= ' ', so Java keeps it as part of the tag.
        let sd = SubscriptionData::from_expression("T", "\u{3000}a || b\u{A0}", None, 0).unwrap();
        assert!(sd.tags_set.contains("\u{3000}a"));
        assert!(sd.tags_set.contains("b\u{A0}"));
    }

    #[test]
    fn expression_type_defaults_and_sql92() {
        assert_eq!(
            SubscriptionData::from_expression("T", "a", Some(" tag "), 0).unwrap().expression_type,
            "TAG"
        );
        let sql = SubscriptionData::from_expression("T", "a > 1 || b", Some("sql92"), 0).unwrap();
        assert_eq!(sql.expression_type, "SQL92");
        assert!(sql.code_set.is_empty() && !sql.is_tag_type());
        assert_eq!(
            SubscriptionData::from_expression("T", " ", Some("SQL92"), 0),
            Err(SubscriptionError::EmptyExpression("SQL92".into()))
        );
    }

    #[test]
    fn heartbeat_json_is_normalised() {
        let json =
            r#"{"topic":"T","subString":"TagA || TagB","codeSet":["0","0"],"subVersion":"5"}"#;
        let sd: SubscriptionData =
            crate::protocol::lenient_json::from_str::<SubscriptionData>(json).unwrap().normalized();
        assert_eq!(sd.code_set, codes(&[java_hash("TagA"), java_hash("TagB")]));
        assert!(!sd.class_filter_mode);
    }
}
