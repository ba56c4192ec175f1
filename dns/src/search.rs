//! From what the user typed to what the resolver asks: IP literals,
//! `localhost`, and the names to query in order (the search list).
//!
//! For a host string the resolver goes, in order:
//!
//! 1. [`ip_literal`]: an address needs no lookup.
//! 2. [`localhost_addrs`]: `localhost` and names under it are the loopback
//!    addresses, never sent to the network (RFC 6761 §6.3).
//! 3. The hosts file, for the name as typed (when `use_hosts`).
//! 4. The DNS, for each name of [`search_candidates`] in turn until one
//!    gives an answer other than NXDOMAIN/NODATA.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Config;
use crate::error::Error;
use crate::name::Name;
use crate::one_or_many::OneOrMany;

/// The address `host` spells, if it is an IPv4 or IPv6 literal (IPv6 also
/// in brackets, as in URLs: `[::1]`; IPv4 also with a trailing dot,
/// `192.0.2.1.`, since no top-level domain is all digits). Only the
/// standard forms are taken; `127.1` or hexadecimal parts are names, not
/// addresses. Scoped IPv6 literals are [`scoped_ipv6`]'s.
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    let v4 = host.strip_suffix('.')?.parse::<Ipv4Addr>().ok()?;
    Some(IpAddr::V4(v4))
}

/// An IPv6 literal with a zone (`fe80::1%eth0`, `[fe80::1%2]`): the address
/// and the zone's text. Such a string is never a name to send to the DNS.
pub fn scoped_ipv6(host: &str) -> Option<(Ipv6Addr, &str)> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let (addr, zone) = host.split_once('%')?;
    Some((addr.parse().ok()?, zone))
}

/// `127.0.0.1` and `::1` if `host` is `localhost` or a name under it
/// (`db.localhost`), ignoring case and a trailing dot; `None` otherwise.
pub fn localhost_addrs(host: &str) -> Option<Vec<IpAddr>> {
    let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
    const LOCALHOST: &[u8] = b"localhost";
    let is_localhost = host.len() >= LOCALHOST.len() && {
        let (head, tail) = host.split_at(host.len() - LOCALHOST.len());
        tail.eq_ignore_ascii_case(LOCALHOST) && (head.is_empty() || head.ends_with(b"."))
    };
    is_localhost.then(|| {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    })
}

/// Whether `name` is `localhost.` or below it.
pub fn is_localhost(name: &Name) -> bool {
    name.labels()
        .last()
        .is_some_and(|l| l.eq_ignore_ascii_case(b"localhost"))
}

/// The names to query for `host`, in order, after checking it is a valid
/// name (empty names, empty labels, labels over 63 bytes, names over 255
/// bytes and non-ASCII text give [`Error::InvalidName`]).
///
/// - A name ending in a dot is absolute: just that name.
/// - A name with at least `config.ndots` dots: the name as typed first,
///   then the name with each `config.search` domain appended, in order.
/// - A name with fewer dots: the search list first, then the name as typed
///   last.
///
/// This is resolv.conf(5) and glibc's `res_nsearch`. Search domains that
/// are not valid names, the root, or make the name too long are left out,
/// and duplicates appear once.
pub fn search_candidates(host: &str, config: &Config) -> Result<Vec<Name>, Error> {
    candidates(host, config).map(OneOrMany::into_vec)
}

/// The names of [`search_candidates`]; one name (no search list, or an
/// absolute name) needs no vector.
pub(crate) type Candidates = OneOrMany<Name>;

/// [`search_candidates`], as the resolver takes them.
pub(crate) fn candidates(host: &str, config: &Config) -> Result<Candidates, Error> {
    // Every IPv6 address has a colon, scoped or not; no host name has one
    // that the resolver would send.
    if host.contains(':') {
        return Err(Error::InvalidName(format!(
            "{host:?}: an IPv6 address (with a zone), not a host name"
        )));
    }
    let absolute: Name = host.parse()?;
    if config.search.is_empty() || ends_with_unescaped_dot(host) {
        return Ok(OneOrMany::One(absolute));
    }
    // Dots that separate labels: `a\.b` is one label.
    let dots = absolute.label_count().saturating_sub(1);
    let mut names = Vec::with_capacity(config.search.len() + 1);
    let as_typed_first = dots >= usize::from(config.ndots);
    if as_typed_first {
        names.push(absolute.clone());
    }
    for domain in &config.search {
        let Ok(domain) = domain.parse::<Name>() else {
            continue;
        };
        if domain.is_root() {
            continue;
        }
        if let Ok(name) = absolute.join(&domain) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if !as_typed_first && !names.contains(&absolute) {
        names.push(absolute);
    }
    Ok(OneOrMany::Many(names))
}

/// Whether `host` ends in a dot that is not escaped (`a\\.` does, `a\.`
/// does not): whether the user wrote an absolute name.
fn ends_with_unescaped_dot(host: &str) -> bool {
    let Some(rest) = host.strip_suffix('.') else {
        return false;
    };
    let backslashes = rest.bytes().rev().take_while(|&b| b == b'\\').count();
    backslashes % 2 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(host: &str, search: &[&str]) -> Vec<String> {
        let c = Config {
            search: search.iter().map(|s| s.to_string()).collect(),
            ..Config::default()
        };
        candidates(host, &c)
    }

    /// The search candidates for `host` under `c`, as text.
    fn candidates(host: &str, c: &Config) -> Vec<String> {
        search_candidates(host, c)
            .unwrap()
            .iter()
            .map(Name::to_string)
            .collect()
    }

    #[test]
    fn literals() {
        assert_eq!(ip_literal("192.0.2.1"), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(ip_literal("::1"), Some("::1".parse().unwrap()));
        assert_eq!(
            ip_literal("[2001:db8::1]"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(ip_literal("[192.0.2.1]"), None);
        assert_eq!(ip_literal("1.2.3.4."), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(ip_literal("1.2.3.4.."), None);
        assert_eq!(ip_literal("::1."), None);
        assert_eq!(ip_literal("127.1"), None);
        assert_eq!(ip_literal("example.com"), None);
        assert_eq!(ip_literal(""), None);
    }

    #[test]
    fn localhost() {
        let both = Some(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]);
        assert_eq!(localhost_addrs("localhost"), both);
        assert_eq!(localhost_addrs("LocalHost."), both);
        assert_eq!(localhost_addrs("db.localhost"), both);
        assert_eq!(localhost_addrs("localhost.example"), None);
        assert_eq!(localhost_addrs("notlocalhost"), None);
        assert!(is_localhost(&"a.LOCALHOST".parse().unwrap()));
        assert!(!is_localhost(&"localhost.example".parse().unwrap()));
        assert!(!is_localhost(&Name::root()));
    }

    #[test]
    fn candidate_order() {
        // Fewer than ndots (1) dots: search list first.
        assert_eq!(
            names("www", &["a.example", "b.example"]),
            ["www.a.example.", "www.b.example.", "www."]
        );
        assert_eq!(
            names("www.x", &["a.example"]),
            ["www.x.", "www.x.a.example."]
        );
        assert_eq!(names("www.", &["a.example"]), ["www."]);
        assert_eq!(names("www", &[]), ["www."]);
    }

    #[test]
    fn ndots_decides_whether_the_name_as_typed_goes_first() {
        let c = Config {
            search: vec!["svc.example".into()],
            ndots: 3,
            ..Config::default()
        };
        let got = |h: &str| candidates(h, &c);
        assert_eq!(got("a.b"), ["a.b.svc.example.", "a.b."]);
        assert_eq!(got("a.b.c.d"), ["a.b.c.d.", "a.b.c.d.svc.example."]);
        let zero = Config {
            ndots: 0,
            ..c.clone()
        };
        assert_eq!(
            search_candidates("www", &zero).unwrap()[0].to_string(),
            "www."
        );
    }

    #[test]
    fn odd_search_domains_are_skipped() {
        let l = "a".repeat(63);
        let longest = format!("{l}.{l}.{l}.{}", "b".repeat(61)); // 255 bytes
        assert_eq!(
            names("www", &["..bad", ".", "a.example.", "A.EXAMPLE", &longest]),
            ["www.a.example.", "www."]
        );
    }

    #[test]
    fn invalid_names() {
        let c = Config::default();
        for bad in ["", "a..b", "..", ".a", "é.example", "a b"] {
            assert!(
                matches!(search_candidates(bad, &c), Err(Error::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert!(search_candidates(&"a".repeat(64), &c).is_err());
        assert!(search_candidates(&"a.".repeat(128), &c).is_err());
    }

    #[test]
    fn scoped_literals_are_not_names() {
        assert_eq!(
            scoped_ipv6("fe80::1%eth0"),
            Some(("fe80::1".parse().unwrap(), "eth0"))
        );
        assert_eq!(
            scoped_ipv6("[fe80::1%2]"),
            Some(("fe80::1".parse().unwrap(), "2"))
        );
        assert_eq!(scoped_ipv6("a%b"), None);
        let c = Config::default();
        for host in ["fe80::1%eth0", "[fe80::1%2]", "2001:db8::1:"] {
            assert!(
                matches!(search_candidates(host, &c), Err(Error::InvalidName(_))),
                "{host}"
            );
        }
    }

    #[test]
    fn escaped_dots_separate_nothing() {
        let c = Config {
            search: vec!["corp.example".into()],
            ..Config::default()
        };
        let got = |h: &str| candidates(h, &c);
        // One label with a dot in it: no dots, so the search list first.
        assert_eq!(got("a\\.b"), ["a\\.b.corp.example.", "a\\.b."]);
        // An escaped final dot is part of the label, not an absolute name.
        assert_eq!(got("a\\."), ["a\\..corp.example.", "a\\.."]);
        // An escaped backslash before the dot leaves the dot a separator.
        assert_eq!(got("a\\\\."), ["a\\\\."]);
    }
}
