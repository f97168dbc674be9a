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

/// A configuration object addressable by Apache's key names.
pub trait ConfigKeys {
    /// Set `key` from its text form. `Ok(true)`: applied; `Ok(false)`: the key is unknown
    /// (the loader warns and goes on); `Err(reason)`: the key is known but `value` is invalid.
    /// Legacy spellings (e.g. `mapedFileSizeCommitLog`) are accepted here as aliases.
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, String>;

    /// Every key with its current value, in a stable order (the `-p` output).
    fn entries(&self) -> Vec<ConfigEntry>;
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

/// Implement [`ConfigKeys`] for a struct whose fields implement [`ConfigValue`].
///
/// One line per key: `field.path: "canonicalKey" | "legacyAlias" ..., important;`
/// (`| aliases` and `, important` optional). Nested fields are written `store.field_name`.
/// `entries()` lists the keys in the order given, under their canonical names.
///
/// ```
/// #[derive(Default)]
/// struct Store { mapped_file_size: u64 }
/// #[derive(Default)]
/// struct Broker { listen_port: u16, auto_create: bool, store: Store }
/// mq_common::config_keys!(Broker {
///     listen_port: "listenPort", important;
///     auto_create: "autoCreateTopicEnable";
///     store.mapped_file_size: "mappedFileSizeCommitLog" | "mapedFileSizeCommitLog";
/// });
/// use mq_common::config::ConfigKeys;
/// let mut b = Broker::default();
/// assert_eq!(b.apply("mapedFileSizeCommitLog", "1024"), Ok(true));
/// assert_eq!(b.store.mapped_file_size, 1024);
/// assert_eq!(b.apply("nope", "1"), Ok(false));
/// assert!(b.apply("listenPort", "99999").is_err());
/// ```
///
/// Fields that are themselves [`ConfigKeys`] (a key group shared by several servers, such as
/// [`SecurityConfig`](crate::config::SecurityConfig)) are listed after the keys as
/// `..field;`: their keys are applied and listed as if they were written here.
#[macro_export]
macro_rules! config_keys {
    ($ty:ty { $( $($field:ident).+ : $key:literal $(| $alias:literal)* $(, $imp:ident)? ; )* $( .. $flat:ident ; )* }) => {
        impl $crate::config::ConfigKeys for $ty {
            fn apply(&mut self, key: &str, value: &str) -> ::std::result::Result<bool, ::std::string::String> {
                match key {
                    $(
                        $key $(| $alias)* => {
                            self.$($field).+ = $crate::config::ConfigValue::parse_value(value)?;
                            Ok(true)
                        }
                    )*
                    _ => {
                        $(
                            if $crate::config::ConfigKeys::apply(&mut self.$flat, key, value)? {
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
                            important: $crate::config_keys!(@important $($imp)?),
                        }
                    ),*
                ];
                $( v.extend($crate::config::ConfigKeys::entries(&self.$flat)); )*
                v
            }
        }
    };
    (@important important) => { true };
    (@important) => { false };
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
