//! [`MessageSelector`]: which messages of a topic a consumer wants — a tag expression or a
//! SQL92 property filter evaluated by the broker (which needs `enablePropertyFilter=true`).

use mq_common::filter::SqlExpression;
use mq_common::protocol::body::{SubscriptionData, EXPRESSION_SQL92, EXPRESSION_TAG};

use crate::error::{ClientError, Result};

/// A subscription expression and its type, as Java's `MessageSelector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSelector {
    expression_type: &'static str,
    expression: String,
}

impl MessageSelector {
    /// Tags: `*` (all) or `a || b`.
    pub fn tag(expression: impl Into<String>) -> Self {
        MessageSelector { expression_type: EXPRESSION_TAG, expression: expression.into() }
    }

    /// A SQL92 filter over message properties (user properties and `TAGS`), e.g.
    /// `a BETWEEN 1 AND 5 AND TAGS IN ('x', 'y')`. Checked when the consumer starts.
    pub fn sql(expression: impl Into<String>) -> Self {
        MessageSelector { expression_type: EXPRESSION_SQL92, expression: expression.into() }
    }

    /// `TAG` or `SQL92`.
    pub fn expression_type(&self) -> &str {
        self.expression_type
    }

    /// The expression text.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Refuse a SQL92 expression that does not compile, with the reason (the broker would
    /// refuse it too, but a consumer should fail at start, not on its first pull).
    pub fn validate(&self) -> Result<()> {
        if self.expression_type == EXPRESSION_SQL92 {
            SqlExpression::compile(&self.expression)
                .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        }
        Ok(())
    }

    /// The subscription a heartbeat and a pull carry.
    pub fn subscription(&self, topic: &str, version: i64) -> SubscriptionData {
        if self.expression_type == EXPRESSION_TAG {
            SubscriptionData::build(topic, &self.expression, version)
        } else {
            SubscriptionData {
                topic: topic.into(),
                sub_string: self.expression.clone(),
                sub_version: version,
                expression_type: self.expression_type.into(),
                ..Default::default()
            }
            .normalized()
        }
    }
}

impl From<&str> for MessageSelector {
    /// A tag expression.
    fn from(s: &str) -> Self {
        MessageSelector::tag(s)
    }
}

impl From<String> for MessageSelector {
    /// A tag expression.
    fn from(s: String) -> Self {
        MessageSelector::tag(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_build_subscriptions() {
        let t = MessageSelector::tag("a || b").subscription("T", 5);
        assert_eq!(t.expression_type, "TAG");
        assert_eq!(t.tags_set.len(), 2);
        let s = MessageSelector::sql("a > 1").subscription("T", 5);
        assert_eq!(s.expression_type, "SQL92");
        assert_eq!(s.sub_string, "a > 1");
        assert!(s.code_set.is_empty());
        assert!(MessageSelector::sql("a >").validate().is_err());
        assert!(MessageSelector::sql("a > 1").validate().is_ok());
    }
}
