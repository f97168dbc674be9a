//! Evaluation with Java's semantics (`ComparisonExpression`, `LogicExpression`,
//! `UnaryExpression`, `UnaryInExpression` of apache/rocketmq's `filter` module):
//!
//! - three-valued logic: a missing property is NULL; `AND`/`OR` short-circuit on FALSE/TRUE and
//!   otherwise propagate NULL; only a TRUE result matches;
//! - property values are strings; comparing one with a number converts the string with the
//!   number's Java type (`Integer.valueOf`, `Long.valueOf`, `Double.valueOf`), with a boolean
//!   via `Boolean.valueOf` (case-insensitive `true`); a conversion that fails is an error;
//! - `>`/`>=`/`<`/`<=` between two strings compare them as doubles (error if either is not a
//!   number): strings are never ordered as text;
//! - `=` is NULL when the left side is NULL and the right is not, FALSE in the opposite case,
//!   TRUE when both are NULL;
//! - numbers of different types compare after widening (int → long → double);
//!   a boolean compared with a number is "less" (Java returns -1);
//! - an error anywhere (Java throws) aborts the evaluation: the message does not match.

use std::cmp::Ordering;

use super::expr::{CmpOp, Node, StrOp};

/// A runtime value; strings borrow from the expression or the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// Java threw: the whole evaluation fails (the message does not match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EvalError;

type R<'a> = Result<Val<'a>, EvalError>;

/// Java `Boolean.valueOf(String)`.
fn java_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

/// Java `Integer.valueOf(String)` / `Long.valueOf(String)` (optional sign, ASCII digits).
fn java_int<T: std::str::FromStr>(s: &str) -> Result<T, EvalError> {
    s.parse().map_err(|_| EvalError)
}

/// Java `Double.valueOf(String)`: surrounding chars `<= ' '` are ignored, an optional
/// `f`/`F`/`d`/`D` suffix is accepted, and `NaN` / `Infinity` are spelled exactly so.
/// (Hexadecimal floating-point strings are not supported.)
pub(crate) fn java_double(s: &str) -> Result<f64, EvalError> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "NaN" || unsigned == "Infinity" {
        return t.replace("Infinity", "inf").parse().map_err(|_| EvalError);
    }
    let body = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    // Rust also accepts "inf"/"nan" spellings that Java does not: allow digits and the
    // characters of a decimal literal only.
    if body.is_empty()
        || !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(EvalError);
    }
    body.parse().map_err(|_| EvalError)
}

/// Java `String.compareTo`: UTF-16 code unit order.
fn java_str_cmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java `ComparisonExpression.__compare(lv, rv, convertStringExpressions = true)` for non-NULL
/// values: the sign of `lv.compareTo(rv)` after Java's conversions. `Less` stands for Java's
/// `-1` on incomparable types.
pub(crate) fn java_compare(lv: Val<'_>, rv: Val<'_>) -> Result<Ordering, EvalError> {
    use Val::*;
    Ok(match (lv, rv) {
        (Bool(a), Bool(b)) => a.cmp(&b),
        (Int(a), Int(b)) => a.cmp(&b),
        (Long(a), Long(b)) => a.cmp(&b),
        (Double(a), Double(b)) => a.total_cmp(&b),
        (Str(a), Str(b)) => java_str_cmp(a, b),
        // Java casts the Boolean to String here and throws ClassCastException.
        (Bool(_), Str(_)) => return Err(EvalError),
        (Int(a), Long(b)) => i64::from(a).cmp(&b),
        (Int(a), Double(b)) => f64::from(a).total_cmp(&b),
        (Int(a), Str(s)) => a.cmp(&java_int::<i32>(s)?),
        (Long(a), Int(b)) => a.cmp(&i64::from(b)),
        (Long(a), Double(b)) => (a as f64).total_cmp(&b),
        (Long(a), Str(s)) => a.cmp(&java_int::<i64>(s)?),
        (Double(a), Int(b)) => a.total_cmp(&f64::from(b)),
        (Double(a), Long(b)) => a.total_cmp(&(b as f64)),
        (Double(a), Str(s)) => a.total_cmp(&java_double(s)?),
        (Str(s), Bool(b)) => java_bool(s).cmp(&b),
        (Str(s), Int(b)) => java_int::<i32>(s)?.cmp(&b),
        (Str(s), Long(b)) => java_int::<i64>(s)?.cmp(&b),
        (Str(s), Double(b)) => java_double(s)?.total_cmp(&b),
        // Boolean vs number, number vs boolean: Java answers -1 without comparing.
        _ => Ordering::Less,
    })
}

/// Evaluate a node over the message's values of the expression's properties (`slots`, by
/// [`Node::Prop`] slot). Recursion depth is bounded by the parser's node limit.
pub(crate) fn eval<'a>(n: &'a Node, p: &[Option<&'a str>]) -> R<'a> {
    use Val::*;
    Ok(match n {
        Node::Const(c) => c.value(),
        Node::Prop { slot, .. } => p[*slot].map_or(Null, Str),
        Node::Negate(e) => match eval(e, p)? {
            Int(i) => Int(i.wrapping_neg()),
            Long(l) => Long(l.wrapping_neg()),
            Double(d) => Double(-d),
            _ => Null,
        },
        Node::Not(e) => match eval(e, p)? {
            Null => Null,
            Bool(b) => Bool(!b),
            _ => return Err(EvalError),
        },
        Node::BoolCast(e) => match eval(e, p)? {
            Null => Null,
            Bool(b) => Bool(b),
            _ => Bool(false),
        },
        Node::And(l, r) => {
            let lv = boolean(eval(l, p)?)?;
            if lv == Some(false) {
                return Ok(Bool(false));
            }
            let rv = boolean(eval(r, p)?)?;
            match (lv, rv) {
                (_, Some(false)) => Bool(false),
                (Some(true), Some(true)) => Bool(true),
                _ => Null,
            }
        }
        Node::Or(l, r) => {
            let lv = boolean(eval(l, p)?)?;
            if lv == Some(true) {
                return Ok(Bool(true));
            }
            let rv = boolean(eval(r, p)?)?;
            match (lv, rv) {
                (_, Some(true)) => Bool(true),
                (Some(false), Some(false)) => Bool(false),
                _ => Null,
            }
        }
        Node::Eq(l, r) => {
            let lv = eval(l, p)?;
            let rv = eval(r, p)?;
            match (lv, rv) {
                (Null, Null) => Bool(true),
                (Null, _) => Null,
                (_, Null) => Bool(false),
                _ => Bool(java_compare(lv, rv)? == Ordering::Equal),
            }
        }
        Node::Cmp(op, l, r) => {
            let lv = eval(l, p)?;
            if lv == Null {
                return Ok(Null);
            }
            let rv = eval(r, p)?;
            if rv == Null {
                return Ok(Null);
            }
            let ord = match (lv, rv) {
                // Java: strings are never ordered as text; both must parse as doubles.
                (Str(a), Str(b)) => java_double(a)?.total_cmp(&java_double(b)?),
                _ => java_compare(lv, rv)?,
            };
            Bool(match op {
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
            })
        }
        Node::In { slot, list, not, .. } => match p[*slot] {
            None => Null,
            Some(v) => Bool(list.iter().any(|x| x == v) ^ not),
        },
        Node::Str { op, not, operand, search } => {
            if search.is_empty() {
                return Ok(Bool(false));
            }
            match eval(operand, p)? {
                Str(s) => {
                    let hit = match op {
                        StrOp::Contains => s.contains(search.as_str()),
                        StrOp::StartsWith => s.starts_with(search.as_str()),
                        StrOp::EndsWith => s.ends_with(search.as_str()),
                    };
                    Bool(hit ^ not)
                }
                // Java answers FALSE (not NULL) for a missing or non-string operand.
                _ => Bool(false),
            }
        }
    })
}

/// Java casts AND/OR operands to `Boolean`; anything else would throw.
fn boolean(v: Val<'_>) -> Result<Option<bool>, EvalError> {
    match v {
        Val::Null => Ok(None),
        Val::Bool(b) => Ok(Some(b)),
        _ => Err(EvalError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_spellings() {
        assert_eq!(java_double(" 1.5 "), Ok(1.5));
        assert_eq!(java_double("2d"), Ok(2.0));
        assert_eq!(java_double("-1e3"), Ok(-1000.0));
        assert_eq!(java_double("5."), Ok(5.0));
        assert!(java_double("NaN").unwrap().is_nan());
        assert_eq!(java_double("-Infinity"), Ok(f64::NEG_INFINITY));
        for bad in ["", "inf", "nan", "abc", "1,5", "0x10", "1.5.1"] {
            assert!(java_double(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compare_conversions() {
        use Val::*;
        assert_eq!(java_compare(Str("5"), Int(5)), Ok(Ordering::Equal));
        assert_eq!(
            java_compare(Str("3000000000"), Int(5)),
            Err(EvalError),
            "Integer.valueOf overflows"
        );
        assert_eq!(java_compare(Str("3000000000"), Long(5)), Ok(Ordering::Greater));
        assert_eq!(java_compare(Str("5.0"), Int(5)), Err(EvalError));
        assert_eq!(java_compare(Str("5"), Double(5.0)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Str("TRUE"), Bool(true)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Str("yes"), Bool(false)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Bool(true), Str("true")), Err(EvalError));
        assert_eq!(java_compare(Int(1), Bool(true)), Ok(Ordering::Less));
        assert_eq!(java_compare(Int(1), Double(1.0)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Long(2), Int(1)), Ok(Ordering::Greater));
    }
}
