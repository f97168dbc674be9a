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

/// Binding strength in the grammar (parser.rs), loosest first: a child is parenthesized only
/// when it binds looser than its place needs. Printing only the parentheses the tree needs
/// keeps the canonical form's nesting no deeper than the text it came from: fully
/// parenthesized, a long `a = b = c = ...` or `x AND y AND ...` chain (nesting 1 when parsed)
/// printed deeper than the parser's nesting limit, so the canonical form did not compile (the
/// `sql_filter` fuzz target found it).
mod prec {
    pub const OR: u8 = 1;
    pub const AND: u8 = 2;
    /// `=`, `<>`, IS [NOT] NULL.
    pub const EQ: u8 = 3;
    /// `>` `>=` `<` `<=`, [NOT] IN, [NOT] CONTAINS / STARTSWITH / ENDSWITH.
    pub const CMP: u8 = 4;
    /// Prefix NOT and `-`.
    pub const UNARY: u8 = 5;
    pub const ATOM: u8 = 6;
}

impl Node {
    /// How many terms the parser counts for this subtree against its limit (an IN counts its
    /// property and itself; the NULL of IS NULL and a boolean cast are not counted).
    pub(crate) fn parsed_nodes(&self) -> usize {
        match self {
            Node::BoolCast(e) => e.parsed_nodes(),
            Node::Const(_) | Node::Prop { .. } => 1,
            Node::Eq(l, r) if matches!(**r, Node::Const(Const::Null)) => 1 + l.parsed_nodes(),
            Node::Negate(e) | Node::Not(e) => 1 + e.parsed_nodes(),
            Node::And(l, r) | Node::Or(l, r) | Node::Eq(l, r) | Node::Cmp(_, l, r) => {
                1 + l.parsed_nodes() + r.parsed_nodes()
            }
            Node::In { .. } => 2,
            Node::Str { operand, .. } => 1 + operand.parsed_nodes(),
        }
    }

    fn prec(&self) -> u8 {
        match self {
            Node::Const(_) | Node::Prop { .. } => prec::ATOM,
            Node::BoolCast(e) => e.prec(),
            Node::Not(e) if matches!(**e, Node::Eq(..)) => prec::EQ,
            Node::Negate(_) | Node::Not(_) => prec::UNARY,
            Node::And(..) => prec::AND,
            Node::Or(..) => prec::OR,
            Node::Eq(..) => prec::EQ,
            Node::Cmp(..) | Node::In { .. } | Node::Str { .. } => prec::CMP,
        }
    }

    /// Print in a place that needs binding strength `min`: parenthesized if looser.
    fn fmt_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.prec() < min {
            f.write_str("(")?;
            self.fmt_bare(f)?;
            f.write_str(")")
        } else {
            self.fmt_bare(f)
        }
    }

    /// Operators are left-associative: a left operand may bind as loosely as the operator
    /// itself, a right operand must bind tighter (what the parser's loops build).
    fn fmt_bare(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bin = |f: &mut fmt::Formatter<'_>, l: &Node, op: &str, r: &Node, p: u8| {
            l.fmt_at(f, p)?;
            write!(f, " {op} ")?;
            r.fmt_at(f, p + 1)
        };
        match self {
            Node::Const(c) => write!(f, "{c}"),
            Node::Prop { name, .. } => f.write_str(name),
            Node::BoolCast(e) => e.fmt_bare(f),
            Node::Negate(e) => {
                f.write_str("- ")?;
                e.fmt_at(f, prec::UNARY)
            }
            // The parser builds Not(Eq) for `<>` and IS NOT NULL: printed back that way.
            Node::Not(e) => match &**e {
                Node::Eq(l, r) if matches!(**r, Node::Const(Const::Null)) => {
                    l.fmt_at(f, prec::EQ)?;
                    f.write_str(" IS NOT NULL")
                }
                Node::Eq(l, r) => bin(f, l, "<>", r, prec::EQ),
                e => {
                    f.write_str("NOT ")?;
                    e.fmt_at(f, prec::UNARY)
                }
            },
            Node::And(l, r) => bin(f, l, "AND", r, prec::AND),
            Node::Or(l, r) => bin(f, l, "OR", r, prec::OR),
            // `x = NULL` is refused by the parser: an Eq against the NULL literal is IS NULL.
            Node::Eq(l, r) if matches!(**r, Node::Const(Const::Null)) => {
                l.fmt_at(f, prec::EQ)?;
                f.write_str(" IS NULL")
            }
            Node::Eq(l, r) => bin(f, l, "=", r, prec::EQ),
            Node::Cmp(op, l, r) => {
                let s = match op {
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                };
                // The right operand of an ordering comparison is a unary expression.
                l.fmt_at(f, prec::CMP)?;
                write!(f, " {s} ")?;
                r.fmt_at(f, prec::UNARY)
            }
            Node::In { prop, list, not, .. } => {
                let items: Vec<String> =
                    list.iter().map(|s| Const::Str(s.clone()).to_string()).collect();
                write!(f, "{prop} {}IN ({})", if *not { "NOT " } else { "" }, items.join(", "))
            }
            Node::Str { op, not, operand, search } => {
                let s = match op {
                    StrOp::Contains => "CONTAINS",
                    StrOp::StartsWith => "STARTSWITH",
                    StrOp::EndsWith => "ENDSWITH",
                };
                let n = if *not { "NOT " } else { "" };
                operand.fmt_at(f, prec::CMP)?;
                write!(f, " {n}{s} {}", Const::Str(search.clone()))
            }
        }
    }
}

/// The canonical form: compiles back to the same tree, with only the parentheses it needs.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_bare(f)
    }
}
