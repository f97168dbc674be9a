//! The compiled expression tree (Java's `Expression` classes, flattened into one enum).

use std::fmt;

use super::eval::Val;

/// A literal (Java `ConstantExpression` / `BooleanConstantExpression`). Integer literals that
/// fit an `int` are `Int`, as Java's `createFromDecimal` makes them: it matters when a property
/// value is converted for a comparison (`Integer.valueOf` vs `Long.valueOf`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Const {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

impl Const {
    /// Java `createFromDecimal`: a long, narrowed to int when it fits.
    pub fn decimal(text: &str) -> Result<Const, String> {
        let v: i64 = text.parse().map_err(|_| format!("number {text} is out of the long range"))?;
        Ok(i32::try_from(v).map(Const::Int).unwrap_or(Const::Long(v)))
    }

    /// Java `createFloat`: refuses infinity and anything below `Double.MIN_VALUE` — which,
    /// for these unsigned literals, means Java refuses `0.0` (write `0`).
    pub fn float(text: &str) -> Result<Const, String> {
        let v: f64 = text.parse().map_err(|_| format!("bad number {text}"))?;
        if v.is_infinite() {
            return Err(format!("{text} is greater than Double.MAX_VALUE"));
        }
        if v == 0.0 {
            return Err(format!(
                "{text} is less than Double.MIN_VALUE (Java refuses a zero float literal; write 0)"
            ));
        }
        Ok(Const::Double(v))
    }

    /// The literal as an evaluation value.
    pub fn value(&self) -> Val<'_> {
        match self {
            Const::Null => Val::Null,
            Const::Bool(b) => Val::Bool(*b),
            Const::Int(i) => Val::Int(*i),
            Const::Long(l) => Val::Long(*l),
            Const::Double(d) => Val::Double(*d),
            Const::Str(s) => Val::Str(s),
        }
    }
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Const::Null => f.write_str("NULL"),
            Const::Bool(true) => f.write_str("TRUE"),
            Const::Bool(false) => f.write_str("FALSE"),
            Const::Int(i) => write!(f, "{i}"),
            Const::Long(l) => write!(f, "{l}"),
            Const::Double(d) => write!(f, "{d:?}"),
            Const::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

/// `>`, `>=`, `<`, `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
}

/// `CONTAINS`, `STARTSWITH`, `ENDSWITH` (5.x additions to the grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// A literal.
    Const(Const),
    /// A message property (user property or `TAGS`), by exact name; `slot` indexes the
    /// expression's property list (values are looked up once per message, in one pass).
    Prop { name: String, slot: usize },
    /// Unary minus (numbers only; anything else evaluates to NULL).
    Negate(Box<Node>),
    /// Boolean NOT (NULL stays NULL).
    Not(Box<Node>),
    /// A property used as a boolean: NULL if absent, else FALSE (values are strings).
    BoolCast(Box<Node>),
    /// Three-valued AND.
    And(Box<Node>, Box<Node>),
    /// Three-valued OR.
    Or(Box<Node>, Box<Node>),
    /// `=` with Java's null rules (also IS NULL against the NULL literal).
    Eq(Box<Node>, Box<Node>),
    /// An ordering comparison.
    Cmp(CmpOp, Box<Node>, Box<Node>),
    /// `prop [NOT] IN ('a', ...)` (`slot` as for [`Node::Prop`]).
    In { prop: String, slot: usize, list: Vec<String>, not: bool },
    /// `x [NOT] CONTAINS|STARTSWITH|ENDSWITH 'search'`.
    Str { op: StrOp, not: bool, operand: Box<Node>, search: String },
}

impl Node {
    /// Whether Java would build a `BooleanExpression` for this node.
    pub fn is_boolean(&self) -> bool {
        match self {
            Node::Const(c) => matches!(c, Const::Bool(_) | Const::Null),
            Node::Prop { .. } | Node::Negate(_) => false,
            _ => true,
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Const(c) => write!(f, "{c}"),
            Node::Prop { name, .. } => f.write_str(name),
            Node::Negate(e) => write!(f, "(- {e})"),
            Node::Not(e) => write!(f, "(NOT {e})"),
            Node::BoolCast(e) => write!(f, "{e}"),
            Node::And(l, r) => write!(f, "({l} AND {r})"),
            Node::Or(l, r) => write!(f, "({l} OR {r})"),
            // `x = NULL` is refused by the parser: an Eq against the NULL literal is IS NULL.
            Node::Eq(l, r) if matches!(**r, Node::Const(Const::Null)) => write!(f, "({l} IS NULL)"),
            Node::Eq(l, r) => write!(f, "({l} = {r})"),
            Node::Cmp(op, l, r) => {
                let s = match op {
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                };
                write!(f, "({l} {s} {r})")
            }
            Node::In { prop, list, not, .. } => {
                let items: Vec<String> =
                    list.iter().map(|s| Const::Str(s.clone()).to_string()).collect();
                write!(f, "({prop} {}IN ({}))", if *not { "NOT " } else { "" }, items.join(", "))
            }
            Node::Str { op, not, operand, search } => {
                let s = match op {
                    StrOp::Contains => "CONTAINS",
                    StrOp::StartsWith => "STARTSWITH",
                    StrOp::EndsWith => "ENDSWITH",
                };
                let n = if *not { "NOT " } else { "" };
                write!(f, "({operand} {n}{s} {})", Const::Str(search.clone()))
            }
        }
    }
}
