//! Fuzz the SQL92 selector: compile any text (never a panic, never a stack overflow: nesting
//! and size are bounded), evaluate what compiles against a few property sets, and check that
//! the canonical (printed) form compiles again to an expression with the same results.
//!
//! Shared by the libFuzzer target `fuzz_targets/sql_filter.rs` and the CI replay test
//! `common/tests/fuzz_replay.rs` (seeds plus bounded mutations on every test run).

use mq_common::filter::{EncodedProperties, SqlExpression};

/// One input: must not panic (asserts state the properties).
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(e) = SqlExpression::compile(text) else { return };
    let sets: [&[(&str, &str)]; 3] = [
        &[],
        &[("a", "1"), ("b", "x"), ("TAGS", "TagA"), ("c", "2.5")],
        &[("a", "-3000000000"), ("b", "TRUE"), ("TAGS", "x"), ("c", "NaN")],
    ];
    let again = SqlExpression::compile(&e.to_string())
        .unwrap_or_else(|err| panic!("canonical form of {text:?} ({e}) refused: {err}"));
    for props in sets {
        assert_eq!(e.evaluate(props), again.evaluate(props), "{text:?} vs {e}");
    }
    let enc = mq_common::message::encode_properties([("a", "7"), ("TAGS", "t")]);
    let _ = e.matches(&EncodedProperties(&enc));
}
