//! Numeric socket addresses given as strings (`"127.0.0.1:8080"`,
//! `"[::1]:53"`), for the `bind_str`/`connect_str` constructors. Names are
//! not resolved here: that is `tern::dns::connect`'s job.

use std::io;
use std::net::SocketAddr;

/// Parses a numeric `ip:port`; anything else is `InvalidInput` naming the
/// string.
pub(crate) fn parse(s: &str) -> io::Result<SocketAddr> {
    s.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid socket address {s:?}: expected a numeric IP and port such as \
                 \"127.0.0.1:8080\" or \"[::1]:53\" (names go through tern::dns::connect)"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_addresses_parse_and_names_do_not() {
        assert_eq!(parse("127.0.0.1:8080").unwrap().port(), 8080);
        assert!(parse("[::1]:53").unwrap().is_ipv6());
        for bad in ["localhost:80", "127.0.0.1", "", "1.2.3.4:99999", "::1:53"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }
}
