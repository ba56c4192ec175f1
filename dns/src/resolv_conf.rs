//! The resolv.conf parser behind [`Config::parse_resolv_conf`].
//!
//! It follows glibc's `res_init` (resolv.conf(5)), line by line:
//!
//! - A line is cut at its first NUL byte (glibc reads C strings) and at its
//!   first `#` or `;`; lines starting with either are comments. A keyword
//!   counts only at the start of the line, followed by a space or tab.
//! - `nameserver ADDR`: an IPv4 address, an IPv6 address, or an IPv6 address
//!   with a numeric `%scope`; port 53. Only the first three that parse are
//!   kept (glibc's MAXNS); anything else on the line is ignored. Addresses
//!   glibc would also take but tern does not: the legacy `inet_aton` forms
//!   (`127.1`, hex, octal) and interface names as scopes, which need libc
//!   to resolve (such a line is skipped, since a link-local address without
//!   its scope cannot be used).
//! - `domain NAME` and `search NAME...`: the search list; the last such line
//!   wins. At most 6 domains are kept (BIND's MAXDNSRCH, glibc before 2.26)
//!   so a huge line cannot multiply every lookup.
//! - `options ...`: `ndots:N` (capped at 15), `timeout:N` (capped at 30,
//!   0 means 1), `attempts:N` (capped at 5, 0 means 1), `rotate`, `edns0`,
//!   `no-aaaa` (IPv4 only), `single-request` and `single-request-reopen`
//!   (A, then AAAA), `use-vc` (TCP only).
//!   A value that does not start with a digit leaves the setting alone
//!   (glibc's `atoi` would read 0). Unknown options are ignored.
//! - Any other line is ignored. If no name server was read, the list is
//!   127.0.0.1:53.
//!
//! EDNS(0) is on by default in tern, so `edns0` changes nothing.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use crate::config::{default_nameserver, Config, IpFamily};

/// glibc's MAXNS: name servers read from the file.
pub(crate) const MAX_NAMESERVERS: usize = 3;
/// Domains kept in the search list.
pub(crate) const MAX_SEARCH: usize = 6;
/// Caps from glibc's resolv.h.
const MAX_NDOTS: u32 = 15;
const MAX_TIMEOUT: u32 = 30;
const MAX_ATTEMPTS: u32 = 5;

/// Parses resolv.conf text; see the module notes.
pub(crate) fn parse(text: &str) -> Config {
    let mut config = Config {
        nameservers: Vec::new(),
        ..Config::default()
    };
    for line in text.split('\n') {
        let line = line.split('\0').next().unwrap_or("");
        let line = line.split(['#', ';']).next().unwrap_or("");
        if line.starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let mut words = line.split_ascii_whitespace();
        let keyword = words.next().unwrap_or("");
        match keyword {
            "nameserver" if config.nameservers.len() < MAX_NAMESERVERS => {
                if let Some(addr) = words.next().and_then(parse_nameserver) {
                    config.nameservers.push(addr);
                }
            }
            "domain" => {
                if let Some(domain) = words.next() {
                    config.search = search_list(std::iter::once(domain));
                }
            }
            "search" => {
                let list = search_list(words);
                if !list.is_empty() {
                    config.search = list;
                }
            }
            "options" => apply_options(&mut config, words),
            _ => {}
        }
    }
    if config.nameservers.is_empty() {
        config.nameservers.push(default_nameserver());
    }
    config
}

/// A search list from its words, at most [`MAX_SEARCH`] of them.
pub(crate) fn search_list<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    words.take(MAX_SEARCH).map(str::to_string).collect()
}

/// One `nameserver` address, port 53.
fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    let (addr, scope) = word.split_once('%')?;
    let addr: Ipv6Addr = addr.parse().ok()?;
    let scope: u32 = scope.parse().ok()?;
    Some(SocketAddr::V6(SocketAddrV6::new(addr, 53, 0, scope)))
}

/// Applies the words of an `options` line or of `RES_OPTIONS`.
pub(crate) fn apply_options<'a>(config: &mut Config, words: impl Iterator<Item = &'a str>) {
    for word in words {
        if let Some(value) = word.strip_prefix("ndots:") {
            if let Some(n) = leading_number(value) {
                config.ndots = u8::try_from(n.min(MAX_NDOTS)).unwrap_or(1);
            }
        } else if let Some(value) = word.strip_prefix("timeout:") {
            if let Some(n) = leading_number(value) {
                config.timeout = Duration::from_secs(u64::from(n.clamp(1, MAX_TIMEOUT)));
            }
        } else if let Some(value) = word.strip_prefix("attempts:") {
            if let Some(n) = leading_number(value) {
                config.attempts = n.clamp(1, MAX_ATTEMPTS);
            }
        } else if word == "rotate" {
            config.rotate = true;
        } else if word == "edns0" {
            config.edns = true;
        } else if word == "no-aaaa" {
            config.ip_family = IpFamily::V4Only;
        } else if word == "single-request" || word == "single-request-reopen" {
            config.single_request = true;
        } else if word == "use-vc" {
            config.use_vc = true;
        }
    }
}

/// The decimal number at the start of `text` (saturating), as `atoi` reads
/// it, or `None` if `text` does not start with a digit.
fn leading_number(text: &str) -> Option<u32> {
    let digits = text.bytes().take_while(u8::is_ascii_digit);
    let mut seen = false;
    let mut value: u32 = 0;
    for d in digits {
        seen = true;
        value = value.saturating_mul(10).saturating_add(u32::from(d - b'0'));
    }
    seen.then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(leading_number("3"), Some(3));
        assert_eq!(leading_number("3x"), Some(3));
        assert_eq!(leading_number("x3"), None);
        assert_eq!(leading_number(""), None);
        assert_eq!(leading_number("-1"), None);
        assert_eq!(leading_number("99999999999999"), Some(u32::MAX));
    }

    #[test]
    fn nameserver_forms() {
        let p = |s| parse_nameserver(s).map(|a| a.to_string());
        assert_eq!(p("192.0.2.1").as_deref(), Some("192.0.2.1:53"));
        assert_eq!(p("2001:db8::1").as_deref(), Some("[2001:db8::1]:53"));
        assert_eq!(p("fe80::1%2").as_deref(), Some("[fe80::1%2]:53"));
        assert_eq!(p("fe80::1%eth0"), None);
        assert_eq!(p("0::00:00:00/2"), None);
        assert_eq!(p("127.1"), None);
        assert_eq!(p("%"), None);
        assert_eq!(p(""), None);
    }

    #[test]
    fn glibc_query_options() {
        let c = parse("options no-aaaa single-request use-vc\n");
        assert_eq!(c.ip_family, IpFamily::V4Only);
        assert!(c.single_request && c.use_vc);
        let c = parse("options single-request-reopen\n");
        assert!(c.single_request && !c.use_vc);
        assert_eq!(c.ip_family, IpFamily::Both);
    }
}
