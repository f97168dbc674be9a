//! Remote-address patterns of `plain_acl.yml` (Java `RemoteAddressStrategyFactory`): who may
//! skip checks by IP (`globalWhiteRemoteAddresses`, an account's `whiteRemoteAddress`).

use std::net::IpAddr;

/// One parsed address pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPattern {
    /// `*`, `*.*.*.*`, `*:*:*:*:*:*:*:*`: every address.
    Any,
    /// A blank pattern: nothing.
    Nothing,
    /// One address, or a list (`a.b.c.{1,2,3}` or `a,b,c`).
    List(Vec<IpAddr>),
    /// IPv4 `a.b.*` / `a.b.c.1-100`: the given leading octets, then a range in the last given
    /// segment (a `*` segment is 0-255), any value after it.
    V4Range {
        /// Octets before the ranged segment.
        prefix: Vec<u8>,
        /// Inclusive range of the ranged segment.
        lo: u8,
        /// Inclusive upper end.
        hi: u8,
    },
}

impl AddressPattern {
    /// Parse a pattern; the error says why it is not one.
    pub fn parse(s: &str) -> Result<AddressPattern, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(AddressPattern::Nothing);
        }
        if s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*" {
            return Ok(AddressPattern::Any);
        }
        let bad = || {
            format!(
                "'{s}' is not an address pattern (IP, a.b.c.{{1,2}}, a,b, a.b.*, a.b.c.1-9 or *)"
            )
        };
        // a.b.c.{1,2,3}
        if let (Some(open), true) = (s.find('{'), s.ends_with('}')) {
            let head = &s[..open];
            let mut out = Vec::new();
            for item in s[open + 1..s.len() - 1].split(',') {
                out.push(format!("{head}{}", item.trim()).parse::<IpAddr>().map_err(|_| bad())?);
            }
            return Ok(AddressPattern::List(out));
        }
        if s.contains(',') {
            let ips: Result<Vec<IpAddr>, _> = s.split(',').map(|a| a.trim().parse()).collect();
            return ips.map(AddressPattern::List).map_err(|_| bad());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AddressPattern::List(vec![ip]));
        }
        // IPv4 with a `*` or `lo-hi` segment.
        let segs: Vec<&str> = s.split('.').collect();
        if segs.len() > 4 || segs.is_empty() {
            return Err(bad());
        }
        let mut prefix = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            if let Ok(n) = seg.parse::<u8>() {
                if last {
                    return Err(bad()); // a plain address would have parsed above
                }
                prefix.push(n);
                continue;
            }
            let (lo, hi) = if *seg == "*" {
                (0, 255)
            } else {
                let (a, b) = seg.split_once('-').ok_or_else(bad)?;
                let (lo, hi) =
                    (a.parse::<u8>().map_err(|_| bad())?, b.parse::<u8>().map_err(|_| bad())?);
                if lo > hi {
                    return Err(bad());
                }
                (lo, hi)
            };
            // Every segment after the ranged one must be `*`.
            if segs[i + 1..].iter().any(|r| *r != "*") {
                return Err(bad());
            }
            return Ok(AddressPattern::V4Range { prefix, lo, hi });
        }
        Err(bad())
    }

    /// Does `ip` match? (IPv4-mapped IPv6 addresses are compared as IPv4.)
    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match self {
            AddressPattern::Any => true,
            AddressPattern::Nothing => false,
            AddressPattern::List(l) => l.contains(&ip),
            AddressPattern::V4Range { prefix, lo, hi } => match ip {
                IpAddr::V4(v4) => {
                    let o = v4.octets();
                    o[..prefix.len()] == prefix[..] && (*lo..=*hi).contains(&o[prefix.len()])
                }
                IpAddr::V6(_) => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, ip: &str) -> bool {
        AddressPattern::parse(p).unwrap().matches(ip.parse().unwrap())
    }

    #[test]
    fn java_forms() {
        assert!(m("*", "10.1.2.3") && m("*.*.*.*", "::1"));
        assert!(!m("", "127.0.0.1"));
        assert!(m("127.0.0.1", "127.0.0.1") && !m("127.0.0.1", "127.0.0.2"));
        assert!(m("192.168.0.{1,2}", "192.168.0.2") && !m("192.168.0.{1,2}", "192.168.0.3"));
        assert!(m("10.0.0.1,10.0.0.9", "10.0.0.9"));
        assert!(m("192.168.*", "192.168.7.9") && !m("192.168.*", "192.169.0.1"));
        assert!(m("192.168.1.10-20", "192.168.1.15") && !m("192.168.1.10-20", "192.168.1.21"));
        assert!(m("192.168.1-2.*", "192.168.2.200") && !m("192.168.1-2.*", "192.168.3.1"));
        assert!(m("127.0.0.1", "::ffff:127.0.0.1"));
        assert!(m("::1", "::1"));
    }

    #[test]
    fn nonsense_is_an_error() {
        for p in ["abc", "1.2.3.4.5", "1.*.3.*", "1.2.3.300", "1.2.3.9-1", "1.2.{3,x}"] {
            assert!(AddressPattern::parse(p).is_err(), "{p}");
        }
    }
}
