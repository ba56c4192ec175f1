//! The hosts file (hosts(5)): static names and addresses consulted before
//! the DNS.
//!
//! Each line is an address followed by a canonical name and any aliases;
//! `#` starts a comment. Lines that do not parse are skipped, as are names
//! that are not valid domain names and addresses with a `%scope` (a
//! link-local address without its scope is of no use). Lookups ignore case
//! and a trailing dot, and return addresses in file order without
//! duplicates.
//!
//! # Implementation
//!
//! Two maps built once at parse time: name → addresses for forward lookups
//! and address → names (canonical name first) for reverse lookups.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::IpAddr;
use std::path::Path;

use crate::error::Error;
use crate::name::Name;

/// A parsed hosts file.
#[derive(Clone, Debug, Default)]
pub struct Hosts {
    by_name: HashMap<Name, Vec<IpAddr>>,
    by_addr: HashMap<IpAddr, Vec<Name>>,
}

impl Hosts {
    /// Parses hosts-file text; lines that cannot be read are skipped.
    pub fn parse(text: &str) -> Hosts {
        let mut hosts = Hosts::default();
        // (address, name) pairs already entered: the duplicate check for
        // both maps, in constant time (a blocklist maps 100,000 names to
        // one address, and a scan of that address's names per line made
        // parsing quadratic).
        let mut seen: HashSet<(IpAddr, Name)> = HashSet::new();
        for line in text.lines() {
            let line = line.split(['#', '\0']).next().unwrap_or("");
            let mut words = line.split_ascii_whitespace();
            let Some(addr) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
                continue;
            };
            for word in words {
                let Ok(name) = word.parse::<Name>() else {
                    continue;
                };
                if !seen.insert((addr, name.clone())) {
                    continue;
                }
                hosts.by_name.entry(name.clone()).or_default().push(addr);
                hosts.by_addr.entry(addr).or_default().push(name);
            }
        }
        hosts
    }

    /// Reads and parses the hosts file at `path`. A missing file is an empty
    /// hosts file; other read errors are [`Error::Io`]. Bytes that are not
    /// UTF-8 are replaced, which makes the names holding them invalid.
    pub fn load(path: &Path) -> Result<Hosts, Error> {
        match fs::read(path) {
            Ok(bytes) => Ok(Hosts::parse(&String::from_utf8_lossy(&bytes))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Hosts::default()),
            Err(err) => Err(Error::Io(std::io::Error::new(
                err.kind(),
                format!("cannot read {}: {err}", path.display()),
            ))),
        }
    }

    /// The addresses of `name`, IPv4 and IPv6 mixed, in file order; empty if
    /// the file does not know the name.
    pub fn lookup(&self, name: &Name) -> &[IpAddr] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The names of `addr`, canonical name first then aliases, in file
    /// order; empty if the file does not know the address.
    pub fn reverse(&self, addr: IpAddr) -> &[Name] {
        self.by_addr.get(&addr).map_or(&[], Vec::as_slice)
    }

    /// Whether the file held no usable entry.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    #[test]
    fn forward_and_reverse() {
        let hosts = Hosts::parse(
            "127.0.0.1 localhost\n\
             ::1 localhost ip6-localhost # comment\n\
             192.0.2.10\tweb.example WWW.example\n\
             2001:db8::10 web.example\n\
             192.0.2.11 web.example\n\
             192.0.2.10 web.example\n",
        );
        assert_eq!(
            hosts.lookup(&name("localhost")),
            [
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        let web: Vec<String> = hosts
            .lookup(&name("Web.Example."))
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(web, ["192.0.2.10", "2001:db8::10", "192.0.2.11"]);
        assert_eq!(hosts.lookup(&name("www.example")).len(), 1);
        assert_eq!(
            hosts.reverse("192.0.2.10".parse().unwrap()),
            [name("web.example"), name("www.example")]
        );
        assert!(hosts.lookup(&name("nothere")).is_empty());
        assert!(hosts.reverse("192.0.2.99".parse().unwrap()).is_empty());
    }

    #[test]
    fn bad_lines_are_skipped() {
        let hosts = Hosts::parse(
            "# only a comment\n\
             \n\
             not-an-address name\n\
             fe80::1%eth0 scoped\n\
             192.0.2.1\n\
             192.0.2.2 good bad..name also-good\n\
             192.0.2.3 nul\0ignored\n",
        );
        assert!(hosts.lookup(&name("name")).is_empty());
        assert!(hosts.lookup(&name("scoped")).is_empty());
        assert_eq!(hosts.lookup(&name("good")).len(), 1);
        assert_eq!(hosts.lookup(&name("also-good")).len(), 1);
        assert_eq!(hosts.lookup(&name("nul")).len(), 1);
        assert!(hosts.lookup(&name("ignored")).is_empty());
        assert!(Hosts::parse("").is_empty());
    }

    /// A blocklist-style file: `n` names on one address.
    fn blocklist(n: usize) -> String {
        (0..n)
            .map(|i| format!("0.0.0.0 ads{i}.tracker.example\n"))
            .collect()
    }

    /// A blocklist-style hosts file (tens of thousands of names on one
    /// address, as ad-blocking lists ship) parses in linear time: the
    /// duplicate checks once scanned every name of the address per line,
    /// which took about a minute for 25,000 names (debug build), on the
    /// runtime thread at `Resolver::new` and at every reload. Counted, not
    /// timed: at most a few name comparisons per line (a hash probe's),
    /// where the scan made one per name already entered for the address.
    #[test]
    fn blocklist_parse_compares_a_few_names_per_line() {
        for lines in [2_000, 16_000] {
            let text = blocklist(lines);
            let compares = crate::name::test_counts::compares_in(|| {
                std::hint::black_box(Hosts::parse(&text));
            });
            assert!(
                compares <= 2 * lines as u64,
                "{compares} name comparisons for {lines} lines: not linear"
            );
        }
    }

    #[test]
    fn load_missing_is_empty() {
        assert!(Hosts::load(Path::new("/nonexistent/tern/hosts"))
            .unwrap()
            .is_empty());
        assert!(matches!(Hosts::load(Path::new("/")), Err(Error::Io(_))));
    }
}
