//! Reading settings from environment variables, shared by every chat binary (gateway, observer,
//! presence service) so a key is parsed and reported the same way everywhere.
//!
//! Each reader has a pure `parse_*` twin taking the raw value, which the tests use: changing
//! the process environment in a multi-threaded test binary would race with other tests.
//! Blank values count as unset, so `FOO= binary` keeps the default.

use std::str::FromStr;
use std::time::Duration;

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnvError {
    /// The value does not parse as the expected type.
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        /// Variable name.
        name: String,
        /// The raw value.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A duration that must be positive and finite is not.
    #[error("{name} must be a positive number of seconds")]
    NotPositive {
        /// Variable name.
        name: String,
    },
}

/// The raw value of `name`, or `None` when unset or not UTF-8.
fn raw(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parse `value` (the raw value of `name`, `None` = unset) or return `None` when unset/blank.
pub fn parse_opt<T: FromStr>(name: &str, value: Option<&str>) -> Result<Option<T>, EnvError>
where
    T::Err: std::fmt::Display,
{
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => v.parse().map(Some).map_err(|e: T::Err| EnvError::Invalid {
            name: name.to_string(),
            value: v.to_string(),
            reason: e.to_string(),
        }),
        _ => Ok(None),
    }
}

/// `name` parsed as `T`; `None` when unset or blank.
pub fn opt<T: FromStr>(name: &str) -> Result<Option<T>, EnvError>
where
    T::Err: std::fmt::Display,
{
    parse_opt(name, raw(name).as_deref())
}

/// `name` parsed as `T`, or `default` when unset or blank.
pub fn var<T: FromStr>(name: &str, default: T) -> Result<T, EnvError>
where
    T::Err: std::fmt::Display,
{
    Ok(opt(name)?.unwrap_or(default))
}

/// Whether a raw value switches a flag on: `1`, `true`, `yes` or `on` (anything else is off).
pub fn parse_flag(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some("1" | "true" | "yes" | "on"))
}

/// Boolean flag `name` (see [`parse_flag`]); off when unset.
pub fn flag(name: &str) -> bool {
    parse_flag(raw(name).as_deref())
}

/// Parse a duration in seconds, accepting fractions (`0.5`) so tests can use sub-second
/// intervals; zero, negative, NaN and infinite values are rejected (a zero heartbeat would spin).
pub fn parse_secs(name: &str, value: Option<&str>, default: f64) -> Result<Duration, EnvError> {
    let s: f64 = parse_opt(name, value)?.unwrap_or(default);
    if !(s > 0.0 && s.is_finite()) {
        return Err(EnvError::NotPositive { name: name.to_string() });
    }
    Ok(Duration::from_secs_f64(s))
}

/// Duration `name` in (fractional) seconds, `default` when unset (see [`parse_secs`]).
pub fn secs(name: &str, default: f64) -> Result<Duration, EnvError> {
    parse_secs(name, raw(name).as_deref(), default)
}

/// Duration `name` in whole milliseconds, `default` when unset.
pub fn ms(name: &str, default: u64) -> Result<Duration, EnvError> {
    Ok(Duration::from_millis(var(name, default)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_blank_give_the_default() {
        assert_eq!(parse_opt::<u16>("PORT", None), Ok(None));
        assert_eq!(parse_opt::<u16>("PORT", Some("  ")), Ok(None));
        assert_eq!(parse_secs("T", Some(""), 1.5), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn values_are_trimmed_and_parsed() {
        assert_eq!(parse_opt::<u16>("PORT", Some(" 3000 ")), Ok(Some(3000)));
        assert_eq!(parse_opt::<String>("ADDR", Some(" a:1 ")), Ok(Some("a:1".to_string())));
        assert_eq!(parse_secs("T", Some("0.25"), 30.0), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = parse_opt::<u16>("PORT", Some("70000")).unwrap_err();
        assert!(
            matches!(&e, EnvError::Invalid { name, value, .. } if name == "PORT" && value == "70000")
        );
        assert!(e.to_string().starts_with("PORT=\"70000\": "), "{e}");
        for bad in ["0", "-1", "NaN", "inf"] {
            assert_eq!(
                parse_secs("HB", Some(bad), 30.0),
                Err(EnvError::NotPositive { name: "HB".into() }),
                "{bad}"
            );
        }
        assert!(matches!(parse_secs("HB", Some("soon"), 30.0), Err(EnvError::Invalid { .. })));
    }

    #[test]
    fn flags() {
        for on in ["1", "true", " yes ", "on"] {
            assert!(parse_flag(Some(on)), "{on}");
        }
        for off in ["0", "false", "", "TRUE2"] {
            assert!(!parse_flag(Some(off)), "{off}");
        }
        assert!(!parse_flag(None));
    }

    #[test]
    fn reads_the_process_environment() {
        // A variable no other test touches and nothing sets: the defaults come back.
        assert_eq!(var("RMQ_ENV_TEST_SURELY_UNSET_7F3A", 7u32), Ok(7));
        assert!(!flag("RMQ_ENV_TEST_SURELY_UNSET_7F3A"));
        assert_eq!(ms("RMQ_ENV_TEST_SURELY_UNSET_7F3A", 5), Ok(Duration::from_millis(5)));
        assert_eq!(opt::<u16>("RMQ_ENV_TEST_SURELY_UNSET_7F3A"), Ok(None));
    }
}
