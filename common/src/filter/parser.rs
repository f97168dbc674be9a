//! Recursive-descent parser for the SQL92 selector grammar, building the expression tree with
//! the checks Java's `SelectorParser`/`ComparisonExpression` make while parsing (so an
//! expression Java refuses is refused here, with a clearer message).
//!
//! Grammar (lowest precedence first; Java `SelectorParser.jj`):
//! ```text
//! or      := and (OR and)*
//! and     := eq (AND eq)*
//! eq      := cmp ('=' cmp | '<>' cmp | IS NULL | IS NOT NULL)*
//! cmp     := unary ( ('>'|'>='|'<'|'<=') unary
//!                  | [NOT] (CONTAINS|STARTSWITH|ENDSWITH) 'string'
//!                  | [NOT] BETWEEN unary AND unary
//!                  | [NOT] IN '(' 'string' (',' 'string')* ')' )*
//! unary   := '+' unary | '-' unary | NOT unary | primary
//! primary := literal | identifier | '(' or ')'
//! ```
//! `NOT` binds tighter than comparisons (`NOT a = 1` is `(NOT a) = 1`), as in Java. Unlike
//! Java, text after a complete expression is an error (Java silently ignores it).

use super::expr::{CmpOp, Const, Node, StrOp};
use super::lexer::{tokenize, Tok, Token};
use super::FilterError;

/// Nesting limit (parentheses and unary operators): keeps recursion bounded for any input.
const MAX_NESTING: usize = 64;
/// Node limit: keeps evaluation recursion (left-deep AND/OR chains) bounded.
const MAX_NODES: usize = 1024;

/// Parse an expression into its (boolean) tree and the distinct property names it reads (a
/// node's `slot` indexes them).
pub(crate) fn parse(src: &str) -> Result<(Node, Vec<String>), FilterError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, pos: 0, depth: 0, nodes: 0, names: Vec::new() };
    let e = p.or()?;
    let root = as_boolean(e, p.peek_at())?;
    if p.peek() != &Tok::Eof {
        return Err(FilterError::at(
            p.peek_at(),
            format!("unexpected {} after the end of the expression", describe(p.peek())),
        ));
    }
    Ok((root, p.names))
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    nodes: usize,
    names: Vec<String>,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Eof => "end of expression".into(),
        Tok::Id(s) => format!("identifier '{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Decimal(s) | Tok::Float(s) => format!("number {s}"),
        other => format!("{other:?}").to_uppercase(),
    }
}

/// Java `asBooleanExpression`: boolean expressions pass, a bare property becomes a boolean
/// cast (true only for a Boolean value, so a present property is FALSE, an absent one NULL),
/// anything else is an error.
fn as_boolean(e: Node, at: usize) -> Result<Node, FilterError> {
    if e.is_boolean() {
        Ok(e)
    } else if matches!(e, Node::Prop { .. }) {
        Ok(Node::BoolCast(Box::new(e)))
    } else {
        Err(FilterError::at(at, format!("expression will not result in a boolean value: {e}")))
    }
}

/// Java `checkLessThanOperand`: only numbers (or non-boolean non-constant expressions) can be
/// ordered.
fn check_orderable(e: &Node, at: usize) -> Result<(), FilterError> {
    let ok = match e {
        Node::Const(c) => matches!(c, Const::Int(_) | Const::Long(_) | Const::Double(_)),
        other => !other.is_boolean(),
    };
    if ok {
        Ok(())
    } else {
        Err(FilterError::at(
            at,
            format!("value '{e}' cannot be compared with > >= < <= or BETWEEN"),
        ))
    }
}

/// Java `checkEqualOperand`: the NULL literal cannot be compared with `=`/`<>`.
fn check_equal_operand(e: &Node, at: usize) -> Result<(), FilterError> {
    if matches!(e, Node::Const(Const::Null)) {
        return Err(FilterError::at(at, "NULL cannot be compared with = or <> (use IS NULL)"));
    }
    Ok(())
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].kind
    }

    fn peek2(&self) -> &Tok {
        self.tokens.get(self.pos + 1).map_or(&Tok::Eof, |t| &t.kind)
    }

    fn peek_at(&self) -> usize {
        self.tokens[self.pos].at
    }

    fn bump(&mut self) -> Tok {
        let t = self.tokens[self.pos].kind.clone();
        if t != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), FilterError> {
        if *self.peek() == want {
            self.bump();
            Ok(())
        } else {
            Err(FilterError::at(
                self.peek_at(),
                format!("expected {what}, found {}", describe(self.peek())),
            ))
        }
    }

    /// Count a new node against [`MAX_NODES`].
    fn node(&mut self, n: Node) -> Result<Node, FilterError> {
        self.charge(1)?;
        Ok(n)
    }

    /// Count `n` more nodes against [`MAX_NODES`].
    fn charge(&mut self, n: usize) -> Result<(), FilterError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(FilterError::at(
                self.peek_at(),
                format!("expression too complex (more than {MAX_NODES} terms)"),
            ));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(FilterError::at(
                self.peek_at(),
                format!("expression nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, FilterError> {
        let mut left = self.and()?;
        while *self.peek() == Tok::Or {
            let at = self.peek_at();
            self.bump();
            let right = self.and()?;
            let l = as_boolean(left, at)?;
            let r = as_boolean(right, at)?;
            left = self.node(Node::Or(Box::new(l), Box::new(r)))?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, FilterError> {
        let mut left = self.equality()?;
        while *self.peek() == Tok::And {
            let at = self.peek_at();
            self.bump();
            let right = self.equality()?;
            let l = as_boolean(left, at)?;
            let r = as_boolean(right, at)?;
            left = self.node(Node::And(Box::new(l), Box::new(r)))?;
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Node, FilterError> {
        let mut left = self.comparison()?;
        loop {
            let at = self.peek_at();
            match self.peek() {
                Tok::Eq | Tok::Ne => {
                    let ne = self.bump() == Tok::Ne;
                    let right = self.comparison()?;
                    check_equal_operand(&left, at)?;
                    check_equal_operand(&right, at)?;
                    // Java checkEqualOperandCompatability: a boolean literal only equals a
                    // boolean when both sides are literals.
                    if let (Node::Const(l), Node::Const(r)) = (&left, &right) {
                        if matches!(l, Const::Bool(_)) && !matches!(r, Const::Bool(_) | Const::Null)
                        {
                            return Err(FilterError::at(
                                at,
                                format!("'{l}' cannot be compared with '{r}'"),
                            ));
                        }
                    }
                    let eq = self.node(Node::Eq(Box::new(left), Box::new(right)))?;
                    left = if ne { self.node(Node::Not(Box::new(eq)))? } else { eq };
                }
                Tok::Is if *self.peek2() == Tok::Null => {
                    self.bump();
                    self.bump();
                    left =
                        self.node(Node::Eq(Box::new(left), Box::new(Node::Const(Const::Null))))?;
                }
                Tok::Is => {
                    self.bump();
                    self.expect(Tok::Not, "NULL or NOT NULL after IS")?;
                    self.expect(Tok::Null, "NULL after IS NOT")?;
                    let eq = Node::Eq(Box::new(left), Box::new(Node::Const(Const::Null)));
                    left = self.node(Node::Not(Box::new(eq)))?;
                }
                _ => return Ok(left),
            }
        }
    }

    fn string_literal(&mut self) -> Result<String, FilterError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            other => Err(FilterError::at(
                self.peek_at(),
                format!("expected a 'string' literal, found {}", describe(&other)),
            )),
        }
    }

    fn comparison(&mut self) -> Result<Node, FilterError> {
        let mut left = self.unary()?;
        loop {
            let at = self.peek_at();
            let (not, op) = match (self.peek(), self.peek2()) {
                (
                    Tok::Not,
                    t @ (Tok::Contains | Tok::StartsWith | Tok::EndsWith | Tok::Between | Tok::In),
                ) => (true, t.clone()),
                (Tok::Not, _) => return Ok(left),
                (t, _) => (false, t.clone()),
            };
            let cmp = match op {
                Tok::Gt => CmpOp::Gt,
                Tok::Ge => CmpOp::Ge,
                Tok::Lt => CmpOp::Lt,
                Tok::Le => CmpOp::Le,
                Tok::Contains | Tok::StartsWith | Tok::EndsWith => {
                    if not {
                        self.bump();
                    }
                    self.bump();
                    let search = self.string_literal()?;
                    let op = match op {
                        Tok::Contains => StrOp::Contains,
                        Tok::StartsWith => StrOp::StartsWith,
                        _ => StrOp::EndsWith,
                    };
                    left = self.node(Node::Str { op, not, operand: Box::new(left), search })?;
                    continue;
                }
                Tok::Between => {
                    if not {
                        self.bump();
                    }
                    self.bump();
                    let low = self.unary()?;
                    self.expect(Tok::And, "AND in BETWEEN .. AND ..")?;
                    let high = self.unary()?;
                    left = self.between(left, low, high, not, at)?;
                    continue;
                }
                Tok::In => {
                    if not {
                        self.bump();
                    }
                    self.bump();
                    self.expect(Tok::LParen, "'(' after IN")?;
                    let mut list = vec![self.string_literal()?];
                    while *self.peek() == Tok::Comma {
                        self.bump();
                        list.push(self.string_literal()?);
                    }
                    self.expect(Tok::RParen, "')' or ',' in the IN list")?;
                    let Node::Prop { name: prop, slot } = left else {
                        return Err(FilterError::at(
                            at,
                            format!("expected a property before IN, got: {left}"),
                        ));
                    };
                    left = self.node(Node::In { prop, slot, list, not })?;
                    continue;
                }
                _ => return Ok(left),
            };
            self.bump();
            let right = self.unary()?;
            left = self.ordered(cmp, left, right, at)?;
        }
    }

    fn ordered(&mut self, op: CmpOp, l: Node, r: Node, at: usize) -> Result<Node, FilterError> {
        check_orderable(&l, at)?;
        check_orderable(&r, at)?;
        self.node(Node::Cmp(op, Box::new(l), Box::new(r)))
    }

    /// Java `createBetween` (`v >= low AND v <= high`, literal bounds checked for order) and
    /// `createNotBetween` (`v < low OR v > high`, unchecked).
    fn between(
        &mut self,
        v: Node,
        low: Node,
        high: Node,
        not: bool,
        at: usize,
    ) -> Result<Node, FilterError> {
        // The tree holds `v` twice (its canonical form prints it twice): count the copy, so
        // the canonical form never has more terms than the limit let through (the
        // `sql_filter` fuzz target found one at exactly the limit that did not compile again).
        self.charge(v.parsed_nodes())?;
        if not {
            let lt = self.ordered(CmpOp::Lt, v.clone(), low, at)?;
            let gt = self.ordered(CmpOp::Gt, v, high, at)?;
            return self.node(Node::Or(Box::new(lt), Box::new(gt)));
        }
        if let (Node::Const(lo), Node::Const(hi)) = (&low, &high) {
            if matches!(lo, Const::Null) || matches!(hi, Const::Null) {
                return Err(FilterError::at(
                    at,
                    "illegal values of BETWEEN: values cannot be NULL",
                ));
            }
            match super::eval::java_compare(hi.value(), lo.value()) {
                Ok(std::cmp::Ordering::Less) => {
                    return Err(FilterError::at(
                        at,
                        format!("illegal values of BETWEEN: the low value ({lo}) must be less than or equal to the high value ({hi})"),
                    ))
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(FilterError::at(
                        at,
                        format!("illegal values of BETWEEN: {lo} and {hi} cannot be compared"),
                    ))
                }
            }
        }
        let ge = self.ordered(CmpOp::Ge, v.clone(), low, at)?;
        let le = self.ordered(CmpOp::Le, v, high, at)?;
        self.node(Node::And(Box::new(ge), Box::new(le)))
    }

    fn unary(&mut self) -> Result<Node, FilterError> {
        self.enter()?;
        let at = self.peek_at();
        let r = match self.peek() {
            Tok::Plus => {
                self.bump();
                self.unary()
            }
            Tok::Minus => {
                self.bump();
                let e = self.unary()?;
                self.node(Node::Negate(Box::new(e)))
            }
            Tok::Not => {
                self.bump();
                let e = self.unary()?;
                let b = as_boolean(e, at)?;
                self.node(Node::Not(Box::new(b)))
            }
            _ => self.primary(),
        };
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<Node, FilterError> {
        let at = self.peek_at();
        let c = match self.bump() {
            Tok::Str(s) => Const::Str(s),
            Tok::Decimal(text) => Const::decimal(&text).map_err(|m| FilterError::at(at, m))?,
            Tok::Float(text) => Const::float(&text).map_err(|m| FilterError::at(at, m))?,
            Tok::True => Const::Bool(true),
            Tok::False => Const::Bool(false),
            Tok::Null => Const::Null,
            Tok::Id(name) => {
                let slot = match self.names.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        self.names.push(name.clone());
                        self.names.len() - 1
                    }
                };
                return self.node(Node::Prop { name, slot });
            }
            Tok::LParen => {
                let e = self.or()?;
                self.expect(Tok::RParen, "')'")?;
                return Ok(e);
            }
            other => {
                return Err(FilterError::at(
                    at,
                    format!("expected a value, property or '(', found {}", describe(&other)),
                ))
            }
        };
        self.node(Node::Const(c))
    }
}
