//! RFC 6724 destination address selection: the order glibc's
//! `getaddrinfo` sorts a host's addresses in, for
//! [`Config::sort_rfc6724`](crate::Config::sort_rfc6724).
//!
//! [`sort`] is pure: it takes each destination with the source address the
//! kernel would send from (`None` when the destination is unreachable), so
//! every rule is tested without a network. The resolver finds the sources
//! by connecting a UDP socket to each destination, which sends nothing.
//!
//! # Implementation
//!
//! The rules applied, in order (RFC 6724 §6), prefer the destination that:
//!
//! 1. is reachable (has a source address);
//! 2. has the same scope as its source;
//! 5. has the same label as its source;
//! 6. has the higher precedence;
//! 8. has the smaller scope;
//! 9. shares the longer prefix with its source (both IPv6; the prefix
//!    counted up to 64 bits, the usual length of an IPv6 subnet prefix,
//!    since tern does not read interface prefix lengths);
//! 10. otherwise, came first.
//!
//! Rules 3 (deprecated sources), 4 (home addresses) and 7 (native
//! transport) need interface state glibc reads through netlink; tern does
//! not, and treats them as ties. Each rule depends on one destination and
//! its source only, so the order is a stable sort by a per-address key;
//! rule 9's "both IPv6" is implied by equal precedence (no IPv6 prefix in
//! the table shares IPv4's precedence 35), so that key stays a total order.
//! Labels and precedences come from RFC 6724's default policy table
//! ([`POLICY`]), IPv4 addresses looked up as `::ffff:a.b.c.d`.

use std::cmp::Reverse;
use std::net::{IpAddr, Ipv6Addr};

/// RFC 6724 §2.1's default policy table: prefix, prefix length,
/// precedence, label.
pub const POLICY: [(Ipv6Addr, u8, u8, u8); 9] = [
    (Ipv6Addr::LOCALHOST, 128, 50, 0),
    (Ipv6Addr::UNSPECIFIED, 0, 40, 1),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, 35, 4),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, 30, 2),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, 5, 5),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, 3, 13),
    (Ipv6Addr::UNSPECIFIED, 96, 1, 3),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, 1, 11),
    (Ipv6Addr::new(0x3ffe, 0, 0, 0, 0, 0, 0, 0), 16, 1, 12),
];

/// Scope values (RFC 6724 §3.1, RFC 4291 §2.7).
const SCOPE_LINK_LOCAL: u8 = 0x2;
const SCOPE_SITE_LOCAL: u8 = 0x5;
const SCOPE_GLOBAL: u8 = 0xe;

/// The prefix length rule 9 counts up to.
const MAX_COMMON_PREFIX: u32 = 64;

/// `ip` as the policy table sees it: IPv4 as `::ffff:a.b.c.d`.
fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// The (precedence, label) of `ip`: from the longest matching prefix of
/// the policy table.
pub fn policy(ip: IpAddr) -> (u8, u8) {
    let bits = as_v6(ip).to_bits();
    let mut best: Option<(u8, u8, u8)> = None;
    for (prefix, len, precedence, label) in POLICY {
        let matches = match 128u32.checked_sub(u32::from(len)) {
            Some(128) => true,
            Some(shift) => (bits ^ prefix.to_bits()) >> shift == 0,
            None => false,
        };
        if matches && best.is_none_or(|(l, _, _)| len > l) {
            best = Some((len, precedence, label));
        }
    }
    // `::/0` always matches.
    best.map_or((40, 1), |(_, precedence, label)| (precedence, label))
}

/// The scope of `ip` (RFC 6724 §3.1): for IPv4, link-local for 127/8 and
/// 169.254/16, global otherwise; for IPv6, a multicast address's own scope,
/// link-local for `::1` and `fe80::/10`, site-local for `fec0::/10`,
/// global otherwise. IPv4-mapped addresses count as IPv4.
pub fn scope(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() || v4.is_link_local() => SCOPE_LINK_LOCAL,
        IpAddr::V4(_) => SCOPE_GLOBAL,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return scope(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_multicast() {
                v6.octets()[1] & 0x0f
            } else if v6.is_loopback() || first & 0xffc0 == 0xfe80 {
                SCOPE_LINK_LOCAL
            } else if first & 0xffc0 == 0xfec0 {
                SCOPE_SITE_LOCAL
            } else {
                SCOPE_GLOBAL
            }
        }
    }
}

/// Rule 9's CommonPrefixLen of a source and a destination: leading bits in
/// common, at most 64; 0 unless both are (non-mapped) IPv6.
fn common_prefix(source: IpAddr, dest: IpAddr) -> u32 {
    match (source, dest) {
        (IpAddr::V6(s), IpAddr::V6(d))
            if s.to_ipv4_mapped().is_none() && d.to_ipv4_mapped().is_none() =>
        {
            (s.to_bits() ^ d.to_bits())
                .leading_zeros()
                .min(MAX_COMMON_PREFIX)
        }
        _ => 0,
    }
}

/// One destination's sort key: smaller sorts first, rule by rule.
type Key = (bool, bool, bool, Reverse<u8>, u8, Reverse<u32>);

fn key(dest: IpAddr, source: Option<IpAddr>) -> Key {
    let (precedence, label) = policy(dest);
    let Some(source) = source else {
        // Rule 1; rules 2, 5 and 9 need a source and tie among these.
        return (
            true,
            false,
            false,
            Reverse(precedence),
            scope(dest),
            Reverse(0),
        );
    };
    (
        false,
        scope(dest) != scope(source),
        label != policy(source).1,
        Reverse(precedence),
        scope(dest),
        Reverse(common_prefix(source, dest)),
    )
}

/// The destinations of `candidates` (each with the source address it
/// would be reached from, `None` if unreachable) in RFC 6724 order: rules
/// 1, 2, 5, 6, 8 and 9, stable otherwise (rule 10). See the module notes.
pub fn sort(candidates: &[(IpAddr, Option<IpAddr>)]) -> Vec<IpAddr> {
    let mut keyed: Vec<(Key, IpAddr)> = candidates
        .iter()
        .map(|&(dest, source)| (key(dest, source), dest))
        .collect();
    // Stable: equal keys keep their order (rule 10).
    keyed.sort_by_key(|&(key, _)| key);
    keyed.into_iter().map(|(_, dest)| dest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Sorts `(dest, source)` pairs written as strings ("" for none).
    fn sorted(pairs: &[(&str, &str)]) -> Vec<String> {
        let candidates: Vec<(IpAddr, Option<IpAddr>)> = pairs
            .iter()
            .map(|&(d, s)| (ip(d), (!s.is_empty()).then(|| ip(s))))
            .collect();
        sort(&candidates).iter().map(IpAddr::to_string).collect()
    }

    /// RFC 6724 §10.2's examples, each given in the order that is *not*
    /// the answer, so that every one needs its rule to come out right.
    #[test]
    fn rfc_6724_examples() {
        // Prefer matching scope (rule 2), twice.
        assert_eq!(
            sorted(&[
                ("198.51.100.121", "169.254.13.78"),
                ("2001:db8:1::1", "2001:db8:1::2")
            ]),
            ["2001:db8:1::1", "198.51.100.121"]
        );
        assert_eq!(
            sorted(&[
                ("2001:db8:1::1", "fe80::1"),
                ("198.51.100.121", "198.51.100.117")
            ]),
            ["198.51.100.121", "2001:db8:1::1"]
        );
        // Prefer higher precedence (rule 6).
        assert_eq!(
            sorted(&[("10.1.2.3", "10.1.2.4"), ("2001:db8:1::1", "2001:db8:1::2")]),
            ["2001:db8:1::1", "10.1.2.3"]
        );
        // Prefer smaller scope (rule 8).
        assert_eq!(
            sorted(&[("2001:db8:1::1", "2001:db8:1::2"), ("fe80::1", "fe80::2")]),
            ["fe80::1", "2001:db8:1::1"]
        );
        // Prefer longest matching prefix (rule 9).
        assert_eq!(
            sorted(&[
                ("2001:db8:3ffe::1", "2001:db8:3f44::2"),
                ("2001:db8:1::1", "2001:db8:1::2")
            ]),
            ["2001:db8:1::1", "2001:db8:3ffe::1"]
        );
        // Prefer matching label (rule 5), over precedence.
        assert_eq!(
            sorted(&[
                ("2001:db8:1::1", "2002:c633:6401::2"),
                ("2002:c633:6401::1", "2002:c633:6401::2")
            ]),
            ["2002:c633:6401::1", "2001:db8:1::1"]
        );
        // Prefer higher precedence (rule 6) once both labels match.
        assert_eq!(
            sorted(&[
                ("2002:c633:6401::1", "2002:c633:6401::2"),
                ("2001:db8:1::1", "2001:db8:1::2")
            ]),
            ["2001:db8:1::1", "2002:c633:6401::1"]
        );
    }

    #[test]
    fn unreachable_destinations_go_last_and_ties_keep_their_order() {
        // Rule 1 beats precedence: ::1 (50) has no source.
        assert_eq!(
            sorted(&[
                ("::1", ""),
                ("192.0.2.1", "192.0.2.100"),
                ("192.0.2.2", "192.0.2.100")
            ]),
            ["192.0.2.1", "192.0.2.2", "::1"]
        );
        // All unreachable: precedence still orders them, ties stay put.
        assert_eq!(
            sorted(&[("192.0.2.9", ""), ("2001:db8::9", ""), ("192.0.2.8", "")]),
            ["2001:db8::9", "192.0.2.9", "192.0.2.8"]
        );
        // Rule 9 is IPv6 only: IPv4 keeps answer order whatever the prefix.
        assert_eq!(
            sorted(&[("198.51.100.1", "10.0.0.1"), ("10.0.0.2", "10.0.0.1")]),
            ["198.51.100.1", "10.0.0.2"]
        );
        assert!(sort(&[]).is_empty());
    }

    #[test]
    fn policy_table_and_scopes() {
        let cases = [
            ("::1", (50, 0)),
            ("2001:db8::1", (40, 1)),
            ("192.0.2.1", (35, 4)),
            ("::ffff:192.0.2.1", (35, 4)),
            ("2002:c633:6401::1", (30, 2)),
            ("2001:0:4136:e378::1", (5, 5)),
            ("fd00::1", (3, 13)),
            ("::192.0.2.1", (1, 3)),
            ("fec0::1", (1, 11)),
            ("3ffe::1", (1, 12)),
            ("::", (1, 3)),
        ];
        for (addr, want) in cases {
            assert_eq!(policy(ip(addr)), want, "{addr}");
        }
        assert_eq!(scope(ip("127.0.0.1")), SCOPE_LINK_LOCAL);
        assert_eq!(scope(ip("169.254.1.1")), SCOPE_LINK_LOCAL);
        assert_eq!(scope(ip("10.0.0.1")), SCOPE_GLOBAL);
        assert_eq!(scope(ip("::ffff:127.0.0.1")), SCOPE_LINK_LOCAL);
        assert_eq!(scope(ip("::1")), SCOPE_LINK_LOCAL);
        assert_eq!(scope(ip("fe80::1")), SCOPE_LINK_LOCAL);
        assert_eq!(scope(ip("fec0::1")), SCOPE_SITE_LOCAL);
        assert_eq!(scope(ip("ff05::1")), 5);
        assert_eq!(scope(ip("2001:db8::1")), SCOPE_GLOBAL);
        assert_eq!(common_prefix(ip("2001:db8::1"), ip("2001:db8::2")), 64);
        assert_eq!(common_prefix(ip("2001:db8::1"), ip("3001:db8::1")), 3);
        assert_eq!(common_prefix(ip("10.0.0.1"), ip("10.0.0.2")), 0);
    }
}
