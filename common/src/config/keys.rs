//! The [`ConfigKeys`] trait, typed value parsing and the [`config_keys!`](crate::config_keys)
//! macro that implements the trait for a plain struct.

use std::path::PathBuf;

/// One configuration item as printed by `-p` / `-m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Apache's (camelCase) key name.
    pub key: &'static str,
    /// The current value, rendered as it would be written in a properties file.
    pub value: String,
    /// Printed by `-m` (Java's `@ImportantField`).
    pub important: bool,
}

/// What changing a key in a running program does (UPDATE_BROKER_CONFIG and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEffect {
    /// Read where it is used: takes effect at once (declared `live`).
    Live,
    /// Read at startup only: recorded, takes effect at the next start.
    Restart,
    /// Accepted for compatibility with Apache's configs; nothing here reads it (declared
    /// `inert`).
    NoEffect,
}

/// A configuration object addressable by Apache's key names. Implement it with
/// [`config_keys!`](crate::config_keys), which declares every key once.
pub trait ConfigKeys {
    /// Set `key` from its text form. `Ok(true)`: applied; `Ok(false)`: the key is unknown
    /// (the loader warns and goes on); `Err(reason)`: the key is known but `value` is invalid.
    /// Legacy spellings (e.g. `mapedFileSizeCommitLog`) are accepted here as aliases.
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, String>;

    /// Every key with its current value, in a stable order (the `-p` output).
    fn entries(&self) -> Vec<ConfigEntry>;

    /// What changing `key` at run time does; `None` for an unknown key.
    fn key_effect(&self, key: &str) -> Option<KeyEffect>;
}

/// Parse a boolean: `true` / `false`, case-insensitive, surrounding whitespace ignored.
///
/// Java's `Boolean.parseBoolean` turns *anything* but `true` into `false`; we reject other
/// words instead so that a typo (`ture`, `yes`) is reported rather than silently disabling a
/// feature.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("expected true or false, got '{s}'"))
    }
}

/// Parse a number of type `T` (any integer or float type), surrounding whitespace ignored.
/// The error says which type was expected and why the text does not fit (e.g. out of range).
pub fn parse_num<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    s.trim().parse::<T>().map_err(|e| {
        let ty = std::any::type_name::<T>();
        let what = match ty {
            "f32" | "f64" => "a number".to_string(),
            _ => format!("an integer ({ty})"),
        };
        format!("expected {what}: {e}")
    })
}

/// A field type usable in a [`config_keys!`](crate::config_keys) struct: parse from and
/// render to the properties text form. Implement it for your own enums (e.g. `brokerRole`).
pub trait ConfigValue: Sized {
    /// Parse the properties text form; the error says why the value is invalid.
    fn parse_value(s: &str) -> Result<Self, String>;
    /// Render as it would be written in a properties file.
    fn render_value(&self) -> String;
}

impl ConfigValue for bool {
    fn parse_value(s: &str) -> Result<Self, String> {
        parse_bool(s)
    }
    fn render_value(&self) -> String {
        self.to_string()
    }
}

macro_rules! config_value_num {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn parse_value(s: &str) -> Result<Self, String> {
                parse_num(s)
            }
            fn render_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
config_value_num!(i8, i16, i32, i64, u8, u16, u32, u64, usize, f32, f64);

impl ConfigValue for String {
    fn parse_value(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
    fn render_value(&self) -> String {
        self.clone()
    }
}

impl ConfigValue for PathBuf {
    /// A leading `~/` expands to `$HOME/` (Java configs use `user.home`-relative defaults).
    fn parse_value(s: &str) -> Result<Self, String> {
        Ok(expand_home(s))
    }
    fn render_value(&self) -> String {
        self.display().to_string()
    }
}

impl ConfigValue for std::net::IpAddr {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.trim().parse().map_err(|_| format!("'{}' is not an IP address", s.trim()))
    }
    fn render_value(&self) -> String {
        self.to_string()
    }
}

/// An optional value: the empty string means `None` (and `None` renders as empty).
impl<T: ConfigValue> ConfigValue for Option<T> {
    fn parse_value(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            Ok(None)
        } else {
            T::parse_value(s).map(Some)
        }
    }
    fn render_value(&self) -> String {
        self.as_ref().map(T::render_value).unwrap_or_default()
    }
}

/// Expand a leading `~` / `~/` to the home directory (`$HOME`); other paths are unchanged.
pub fn expand_home(s: &str) -> PathBuf {
    if s == "~" || s.starts_with("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            let mut p = PathBuf::from(home);
            if s.len() > 2 {
                p.push(&s[2..]);
            }
            return p;
        }
    }
    PathBuf::from(s)
}

/// Implement [`ConfigKeys`] for a struct whose fields implement [`ConfigValue`]: the one way
/// every binary declares its keys.
///
/// One line per key: `field.path: "canonicalKey" | "legacyAlias" ..., flag ...;` with the
/// flags `important` (printed by `-m`) and `live` (a running program applies a change at once;
/// otherwise it takes effect at the next start). Nested fields are written `store.field_name`.
/// After the braces, optional sections:
/// * `nested: field;`: a field that implements [`ConfigKeys`] itself; keys not declared here
///   are handed to it, and its entries follow ours (the broker includes the store's keys this
///   way, so they are declared once, by the store);
/// * `inert: "key", ...;`: keys accepted for compatibility with Apache's configs that nothing
///   reads ([`KeyEffect::NoEffect`]; never printed).
///
/// `entries()` lists the keys in the order given, under their canonical names.
///
/// ```
/// #[derive(Default)]
/// struct Store { mapped_file_size: u64, reserved_hours: u64 }
/// mq_common::config_keys!(Store {
///     mapped_file_size: "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog";
///     reserved_hours: "fileReservedTime", important, live;
/// });
/// #[derive(Default)]
/// struct Broker { listen_port: u16, auto_create: bool, store: Store }
/// mq_common::config_keys!(Broker {
///     listen_port: "listenPort", important;
///     auto_create: "autoCreateTopicEnable", live;
/// }
/// nested: store;
/// inert: "aclEnable", "useEpollNativeSelector";
/// );
/// use mq_common::config::{ConfigKeys, KeyEffect};
/// let mut b = Broker::default();
/// assert_eq!(b.apply("mapedFileSizeCommitLog", "1024"), Ok(true));
/// assert_eq!(b.store.mapped_file_size, 1024);
/// assert_eq!(b.apply("aclEnable", "true"), Ok(true));
/// assert_eq!(b.apply("nope", "1"), Ok(false));
/// assert!(b.apply("listenPort", "99999").is_err());
/// assert_eq!(b.key_effect("fileReservedTime"), Some(KeyEffect::Live));
/// assert_eq!(b.key_effect("listenPort"), Some(KeyEffect::Restart));
/// assert_eq!(b.key_effect("aclEnable"), Some(KeyEffect::NoEffect));
/// assert_eq!(b.entries().len(), 4);
/// ```
#[macro_export]
macro_rules! config_keys {
    ($ty:ty {
        $( $($field:ident).+ : $key:literal $(| $alias:literal)* $(, $flag:ident)* ; )*
    }
    $(nested: $($nested:ident).+ ;)*
    $(inert: $($inert:literal),+ $(,)? ;)?
    ) => {
        const _: () = { $( $( $crate::config_keys!(@flag $flag); )* )* };
        impl $crate::config::ConfigKeys for $ty {
            fn apply(&mut self, key: &str, value: &str) -> ::std::result::Result<bool, ::std::string::String> {
                match key {
                    $(
                        $key $(| $alias)* => {
                            self.$($field).+ = $crate::config::ConfigValue::parse_value(value)?;
                            Ok(true)
                        }
                    )*
                    $( $($inert)|+ => Ok(true), )?
                    _ => {
                        $(
                            if $crate::config::ConfigKeys::apply(&mut self.$($nested).+, key, value)? {
                                return Ok(true);
                            }
                        )*
                        Ok(false)
                    }
                }
            }
            fn entries(&self) -> ::std::vec::Vec<$crate::config::ConfigEntry> {
                #[allow(unused_mut)]
                let mut v = ::std::vec![
                    $(
                        $crate::config::ConfigEntry {
                            key: $key,
                            value: $crate::config::ConfigValue::render_value(&self.$($field).+),
                            important: $crate::config_keys!(@has important $($flag)*),
                        }
                    ),*
                ];
                $( v.extend($crate::config::ConfigKeys::entries(&self.$($nested).+)); )*
                v
            }
            fn key_effect(&self, key: &str) -> ::std::option::Option<$crate::config::KeyEffect> {
                match key {
                    $(
                        $key $(| $alias)* => Some(if $crate::config_keys!(@has live $($flag)*) {
                            $crate::config::KeyEffect::Live
                        } else {
                            $crate::config::KeyEffect::Restart
                        }),
                    )*
                    $( $($inert)|+ => Some($crate::config::KeyEffect::NoEffect), )?
                    _ => {
                        $(
                            if let Some(e) = $crate::config::ConfigKeys::key_effect(&self.$($nested).+, key) {
                                return Some(e);
                            }
                        )*
                        None
                    }
                }
            }
        }
    };
    (@flag important) => { () };
    (@flag live) => { () };
    (@flag $other:ident) => {
        compile_error!(concat!("config_keys!: unknown flag `", stringify!($other), "` (important, live)"))
    };
    (@has $want:ident) => { false };
    (@has important important $($rest:ident)*) => { true };
    (@has live live $($rest:ident)*) => { true };
    (@has $want:ident $other:ident $($rest:ident)*) => { $crate::config_keys!(@has $want $($rest)*) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_parsing() {
        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool(" TRUE "), Ok(true));
        assert_eq!(parse_bool("False"), Ok(false));
        assert!(parse_bool("yes").unwrap_err().contains("expected true or false"));
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn num_parsing() {
        assert_eq!(parse_num::<u16>(" 9876 "), Ok(9876));
        assert_eq!(parse_num::<i64>("-5"), Ok(-5));
        assert_eq!(parse_num::<f64>("0.75"), Ok(0.75));
        let e = parse_num::<u16>("70000").unwrap_err();
        assert!(e.contains("u16") && e.contains("too large"), "{e}");
        let e = parse_num::<i32>("12abc").unwrap_err();
        assert!(e.contains("i32") && e.contains("invalid digit"), "{e}");
    }

    #[test]
    fn option_and_path_values() {
        assert_eq!(Option::<u32>::parse_value(""), Ok(None));
        assert_eq!(Option::<u32>::parse_value("3"), Ok(Some(3)));
        assert!(Option::<u32>::parse_value("x").is_err());
        assert_eq!(Option::<u32>::None.render_value(), "");
        assert_eq!(PathBuf::parse_value("/a/b"), Ok(PathBuf::from("/a/b")));
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(PathBuf::parse_value("~/x"), Ok(PathBuf::from(home).join("x")));
        }
    }

    #[derive(Debug, PartialEq)]
    enum Role {
        Master,
        Slave,
    }
    impl ConfigValue for Role {
        fn parse_value(s: &str) -> Result<Self, String> {
            match s.trim() {
                "ASYNC_MASTER" => Ok(Role::Master),
                "SLAVE" => Ok(Role::Slave),
                o => Err(format!("unknown role {o}")),
            }
        }
        fn render_value(&self) -> String {
            match self {
                Role::Master => "ASYNC_MASTER",
                Role::Slave => "SLAVE",
            }
            .into()
        }
    }

    struct Inner {
        size: u64,
    }
    struct Demo {
        port: u16,
        role: Role,
        name: Option<String>,
        inner: Inner,
    }
    crate::config_keys!(Demo {
        port: "listenPort", important;
        role: "brokerRole";
        name: "brokerName", important;
        inner.size: "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog";
    });

    #[derive(Default)]
    struct Leaf {
        a: u32,
    }
    crate::config_keys!(Leaf { a: "leafA", live; });
    #[derive(Default)]
    struct Other {
        b: bool,
    }
    crate::config_keys!(Other { b: "otherB"; });
    #[derive(Default)]
    struct Outer {
        port: u16,
        leaf: Leaf,
        other: Other,
    }
    crate::config_keys!(Outer { port: "listenPort"; } nested: leaf; nested: other; inert: "aclEnable";);

    /// Several nested groups: each key reaches the one that declares it, entries follow in
    /// order, and unknown keys stay unknown.
    #[test]
    fn macro_several_nested() {
        let mut o = Outer::default();
        assert_eq!(o.apply("leafA", "7"), Ok(true));
        assert_eq!(o.apply("otherB", "true"), Ok(true));
        assert!(o.apply("otherB", "yes").is_err());
        assert_eq!(o.apply("nope", "1"), Ok(false));
        assert_eq!((o.leaf.a, o.other.b), (7, true));
        let keys: Vec<_> = o.entries().iter().map(|e| e.key).collect();
        assert_eq!(keys, ["listenPort", "leafA", "otherB"]);
        assert_eq!(o.key_effect("leafA"), Some(KeyEffect::Live));
        assert_eq!(o.key_effect("otherB"), Some(KeyEffect::Restart));
        assert_eq!(o.key_effect("aclEnable"), Some(KeyEffect::NoEffect));
        assert_eq!(o.key_effect("nope"), None);
    }

    #[test]
    fn macro_apply_and_entries() {
        let mut d = Demo { port: 1, role: Role::Master, name: None, inner: Inner { size: 0 } };
        assert_eq!(d.apply("listenPort", "10911"), Ok(true));
        assert_eq!(d.apply("brokerRole", "SLAVE"), Ok(true));
        assert_eq!(d.apply("brokerName", "b"), Ok(true));
        assert_eq!(d.apply("mapedFileSizeCommitLog", "42"), Ok(true));
        assert_eq!(d.apply("unknownKey", "x"), Ok(false));
        // Keys are case-sensitive like Java's setter matching.
        assert_eq!(d.apply("ListenPort", "1"), Ok(false));
        assert!(d.apply("brokerRole", "BOSS").unwrap_err().contains("unknown role"));
        assert!(d.apply("listenPort", "x").is_err());
        assert_eq!(d.port, 10911);
        assert_eq!(d.role, Role::Slave);
        assert_eq!(d.inner.size, 42);
        let e = d.entries();
        let keys: Vec<_> = e.iter().map(|e| e.key).collect();
        assert_eq!(keys, ["listenPort", "brokerRole", "brokerName", "mappedFileSizeCommitLog"]);
        assert_eq!(e[3].value, "42");
        assert!(e[0].important && !e[1].important && e[2].important);
    }
}
