//! Typed custom headers: the `extFields` of a command as Rust structs (spec §2).
//!
//! Each Java `CommandCustomHeader` class becomes a struct declared with [`command_header!`]:
//! plain-typed fields are required (a missing one is an error naming the field, which handlers
//! send back as the remark), `Option` fields are optional. Values are parsed the way real
//! clients send them: numbers in decimal text, booleans as `true`/`false` or `1`/`0`
//! (rocketmq-client-cpp), anything already coerced to a string by the JSON header decoder.

mod admin;
mod client;
mod controller;
mod namesrv;
mod offset;
mod pop;
mod pull;
mod send;

pub use admin::*;
pub use client::*;
pub use controller::*;
pub use namesrv::*;
pub use offset::*;
pub use pop::*;
pub use pull::*;
pub use send::*;

use super::command::ExtFields;

/// Why a custom header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A required field is absent.
    #[error("the header field '{0}' is required but missing")]
    Missing(&'static str),
    /// A field is present but does not parse as its type.
    #[error("the header field '{field}' has an invalid value '{value}'")]
    Invalid {
        /// Java field name.
        field: &'static str,
        /// The value received.
        value: String,
    },
}

/// A typed custom header, convertible from and to `extFields`.
pub trait CommandHeader: Sized {
    /// Decode from extension fields.
    fn read(fields: &ExtFields) -> Result<Self, HeaderError>;
    /// Encode into extension fields (strings only, as Go clients require).
    fn write(&self, fields: &mut ExtFields);
}

/// The empty header (requests that carry none).
impl CommandHeader for () {
    fn read(_: &ExtFields) -> Result<Self, HeaderError> {
        Ok(())
    }
    fn write(&self, _: &mut ExtFields) {}
}

/// A value type that can live in `extFields`.
pub trait ExtValue: Sized {
    /// Parse from the wire string; `None` if malformed.
    fn parse_ext(s: &str) -> Option<Self>;
    /// Render for the wire; `None` means "omit the key".
    fn format_ext(&self) -> Option<String>;
    /// The value to use when the key is absent; `None` means the field is required.
    fn when_missing() -> Option<Self> {
        None
    }
    /// Store under `key` in `fields` (or omit, as [`ExtValue::format_ext`] says). Overridden
    /// by the plain types to format straight into the map's buffer, no temporary string.
    fn write_ext(&self, key: &str, fields: &mut ExtFields) {
        if let Some(v) = self.format_ext() {
            fields.insert_str(key, &v);
        }
    }
}

impl ExtValue for String {
    fn parse_ext(s: &str) -> Option<Self> {
        Some(s.to_string())
    }
    fn format_ext(&self) -> Option<String> {
        Some(self.clone())
    }
    fn write_ext(&self, key: &str, fields: &mut ExtFields) {
        fields.insert_str(key, self);
    }
}

macro_rules! ext_int {
    ($($t:ty),*) => {$(
        impl ExtValue for $t {
            fn parse_ext(s: &str) -> Option<Self> {
                let s = s.trim();
                s.parse::<$t>().ok().or_else(|| {
                    // Some clients send whole numbers as JSON floats ("4.0").
                    s.parse::<f64>().ok().filter(|f| f.fract() == 0.0).map(|f| f as $t)
                })
            }
            fn format_ext(&self) -> Option<String> {
                Some(self.to_string())
            }
            fn write_ext(&self, key: &str, fields: &mut ExtFields) {
                // Every integer type used in headers fits i64 except huge u64s.
                match i64::try_from(*self) {
                    Ok(n) => fields.insert_with(key, |o| super::ext_fields::push_int(o, n)),
                    Err(_) => fields.insert_str(key, &self.to_string()),
                }
            }
        }
    )*};
}
ext_int!(i32, i64, u32, u64, i16);

impl ExtValue for bool {
    /// `true`/`false` (any case) and `1`/`0`; anything else is `false`, as Java's
    /// `Boolean.parseBoolean` would have it.
    fn parse_ext(s: &str) -> Option<Self> {
        let s = s.trim();
        Some(s.eq_ignore_ascii_case("true") || s == "1")
    }
    fn format_ext(&self) -> Option<String> {
        Some(if *self { "true" } else { "false" }.to_string())
    }
    fn write_ext(&self, key: &str, fields: &mut ExtFields) {
        fields.insert_str(key, if *self { "true" } else { "false" });
    }
}

impl<T: ExtValue> ExtValue for Option<T> {
    fn parse_ext(s: &str) -> Option<Self> {
        // An empty string for an optional number is treated as absent.
        match T::parse_ext(s) {
            Some(v) => Some(Some(v)),
            None if s.trim().is_empty() => Some(None),
            None => None,
        }
    }
    fn format_ext(&self) -> Option<String> {
        self.as_ref().and_then(T::format_ext)
    }
    fn when_missing() -> Option<Self> {
        Some(None)
    }
    fn write_ext(&self, key: &str, fields: &mut ExtFields) {
        if let Some(v) = self {
            v.write_ext(key, fields);
        }
    }
}

/// Read one field of a header (used by [`command_header!`]).
pub fn read_field<T: ExtValue>(fields: &ExtFields, key: &'static str) -> Result<T, HeaderError> {
    match fields.get(key) {
        Some(s) => {
            T::parse_ext(s).ok_or_else(|| HeaderError::Invalid { field: key, value: s.to_string() })
        }
        None => T::when_missing().ok_or(HeaderError::Missing(key)),
    }
}

/// Declare a typed custom header: `field: Type => "javaName"` per field.
#[macro_export]
macro_rules! command_header {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty => $key:literal ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name { $( $(#[$fm])* pub $field: $ty, )* }

        impl $crate::protocol::header::CommandHeader for $name {
            fn read(f: &$crate::protocol::command::ExtFields) -> Result<Self, $crate::protocol::header::HeaderError> {
                Ok($name { $( $field: $crate::protocol::header::read_field::<$ty>(f, $key)?, )* })
            }
            fn write(&self, f: &mut $crate::protocol::command::ExtFields) {
                $( $crate::protocol::header::ExtValue::write_ext(&self.$field, $key, f); )*
            }
        }
    };
}
