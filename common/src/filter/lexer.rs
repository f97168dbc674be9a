//! Tokens of RocketMQ's SQL92 selector grammar (Java `filter/parser/SelectorParser.jj`).
//!
//! Keywords are case-insensitive; identifiers keep their case (property lookup is exact).
//! Whitespace is space, tab, CR, LF and form feed; `-- ...` line comments need their line end
//! (as in Java) and `/* ... */` block comments are skipped.

use super::FilterError;

/// One token with its byte offset in the expression (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub at: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
    /// `DECIMAL_LITERAL` text without an `l`/`L` suffix.
    Decimal(String),
    /// `FLOATING_POINT_LITERAL` text.
    Float(String),
    /// A string literal with `''` unescaped.
    Str(String),
    /// An identifier (property name).
    Id(String),
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    Eof,
}

fn keyword(word: &str) -> Option<Tok> {
    const KEYWORDS: &[(&str, Tok)] = &[
        ("NOT", Tok::Not),
        ("AND", Tok::And),
        ("OR", Tok::Or),
        ("BETWEEN", Tok::Between),
        ("IN", Tok::In),
        ("TRUE", Tok::True),
        ("FALSE", Tok::False),
        ("NULL", Tok::Null),
        ("IS", Tok::Is),
        ("CONTAINS", Tok::Contains),
        ("STARTSWITH", Tok::StartsWith),
        ("ENDSWITH", Tok::EndsWith),
    ];
    KEYWORDS.iter().find(|(k, _)| k.eq_ignore_ascii_case(word)).map(|(_, t)| t.clone())
}

fn is_id_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$'
}

fn is_id_part(c: u8) -> bool {
    is_id_start(c) || c.is_ascii_digit()
}

/// Split an expression into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, FilterError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let at = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0C => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                // Java's LINE_COMMENT requires the line end; at the very end it is a lexical error.
                match b[i..].iter().position(|&c| c == b'\n' || c == b'\r') {
                    Some(n) => i += n + 1,
                    None => {
                        return Err(FilterError::at(
                            at,
                            "unterminated '--' comment (needs a line end)",
                        ))
                    }
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                match src[i + 2..].find("*/") {
                    Some(n) => i += 2 + n + 2,
                    None => return Err(FilterError::at(at, "unterminated '/*' comment")),
                }
                continue;
            }
            b'\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    let Some(rest) = src.get(j..) else {
                        return Err(FilterError::at(at, "unterminated string literal"));
                    };
                    let Some(q) = rest.find('\'') else {
                        return Err(FilterError::at(at, "unterminated string literal"));
                    };
                    s.push_str(&rest[..q]);
                    j += q + 1;
                    if b.get(j) == Some(&b'\'') {
                        s.push('\'');
                        j += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token { kind: Tok::Str(s), at });
                i = j;
                continue;
            }
            b'0'..=b'9' | b'.' => {
                let (kind, end) = number(b, i)?;
                out.push(Token { kind, at });
                i = end;
                continue;
            }
            c if is_id_start(c) => {
                let mut j = i + 1;
                while j < b.len() && is_id_part(b[j]) {
                    j += 1;
                }
                let word = &src[i..j];
                let kind = keyword(word).unwrap_or_else(|| Tok::Id(word.to_string()));
                out.push(Token { kind, at });
                i = j;
                continue;
            }
            _ => {}
        }
        let (kind, len) = match (c, b.get(i + 1).copied()) {
            (b'<', Some(b'>')) => (Tok::Ne, 2),
            (b'<', Some(b'=')) => (Tok::Le, 2),
            (b'>', Some(b'=')) => (Tok::Ge, 2),
            (b'=', _) => (Tok::Eq, 1),
            (b'<', _) => (Tok::Lt, 1),
            (b'>', _) => (Tok::Gt, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b',', _) => (Tok::Comma, 1),
            (b'+', _) => (Tok::Plus, 1),
            (b'-', _) => (Tok::Minus, 1),
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(FilterError::at(at, format!("unexpected character '{ch}'")));
            }
        };
        out.push(Token { kind, at });
        i += len;
    }
    out.push(Token { kind: Tok::Eof, at: b.len() });
    Ok(out)
}

/// A numeric literal at `i` (longest match, as JavaCC): `DECIMAL_LITERAL` is `0` or
/// `[1-9][0-9]*[lL]?`; `FLOATING_POINT_LITERAL` is `d+.d*E?`, `.d+E?` or `d+E` with
/// `E = [eE][+-]?d+`.
fn number(b: &[u8], start: usize) -> Result<(Tok, usize), FilterError> {
    let digits = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let exponent = |j: usize| -> Option<usize> {
        if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
            let mut k = j + 1;
            if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                k += 1;
            }
            let e = digits(k);
            (e > k).then_some(e)
        } else {
            None
        }
    };
    let text = |end: usize| String::from_utf8_lossy(&b[start..end]).into_owned();
    let int_end = digits(start);
    if int_end < b.len() && b[int_end] == b'.' {
        let frac_end = digits(int_end + 1);
        if int_end == start && frac_end == int_end + 1 {
            return Err(FilterError::at(start, "'.' is not a number"));
        }
        let end = exponent(frac_end).unwrap_or(frac_end);
        return Ok((Tok::Float(text(end)), end));
    }
    if let Some(end) = exponent(int_end) {
        return Ok((Tok::Float(text(end)), end));
    }
    if b[start] == b'0' && int_end > start + 1 {
        return Err(FilterError::at(
            start,
            format!("bad number '{}' (leading zero)", text(int_end)),
        ));
    }
    let mut end = int_end;
    let lit = text(int_end);
    if b[start] != b'0' && end < b.len() && (b[end] == b'l' || b[end] == b'L') {
        end += 1;
    }
    Ok((Tok::Decimal(lit), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            kinds("a>=1 and B<>'x''y' Or c IN (1.5e3, .5) /* c */ -- x\n"),
            vec![
                Tok::Id("a".into()),
                Tok::Ge,
                Tok::Decimal("1".into()),
                Tok::And,
                Tok::Id("B".into()),
                Tok::Ne,
                Tok::Str("x'y".into()),
                Tok::Or,
                Tok::Id("c".into()),
                Tok::In,
                Tok::LParen,
                Tok::Float("1.5e3".into()),
                Tok::Comma,
                Tok::Float(".5".into()),
                Tok::RParen,
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds("10L 5. 7E2"),
            vec![
                Tok::Decimal("10".into()),
                Tok::Float("5.".into()),
                Tok::Float("7E2".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds("ANDx $a_1"),
            vec![Tok::Id("ANDx".into()), Tok::Id("$a_1".into()), Tok::Eof]
        );
    }

    #[test]
    fn lexical_errors() {
        for bad in ["'open", "a -- no newline", "/* open", "a ! b", "007", "a = .", "é"] {
            assert!(tokenize(bad).is_err(), "{bad}");
        }
    }
}
