//! Resolver configuration: [`Config`], its defaults, and where the system's
//! settings come from (`/etc/resolv.conf`, `RES_OPTIONS`, `LOCALDOMAIN`,
//! the host name).
//!
//! The defaults are glibc's: timeout 5 s, 2 attempts, ndots 1, at most 3
//! name servers, 127.0.0.1:53 when none is configured. tern differs in one
//! place: it sends EDNS(0) with a 1232-byte payload by default, where glibc
//! waits for `options edns0`. Parsing the file itself lives in
//! `resolv_conf.rs`.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::resolver::{read_stamped, Stamp};

/// [`Config::connect_timeout`]'s default, which also bounds
/// [`connect`](crate::connect) to an IP literal.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The EDNS(0) UDP payload size tern offers: 1232 bytes, the size DNS Flag
/// Day 2020 settled on to avoid IP fragmentation.
pub const EDNS_PAYLOAD: u16 = 1232;

/// Where the system's resolver configuration lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Where the system's hosts file lives.
pub const HOSTS_FILE: &str = "/etc/hosts";

/// How a resolver finds and asks name servers.
///
/// Start from [`Config::default`] or [`Config::from_system`], then set
/// fields.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Servers to ask, in order; 127.0.0.1:53 when nothing is configured.
    pub nameservers: Vec<SocketAddr>,
    /// Domains appended to names that do not end in a dot (`search`).
    pub search: Vec<String>,
    /// Dots a name needs to count as "qualified" (`options ndots:`).
    pub ndots: u8,
    /// How long to wait for a reply, per attempt. Default 5 s.
    pub timeout: Duration,
    /// Rounds over all servers. Default 2.
    pub attempts: u32,
    /// Start at a different server for each query (`options rotate`).
    pub rotate: bool,
    /// Send EDNS(0) offering [`EDNS_PAYLOAD`] bytes. Default on.
    pub edns: bool,
    /// Consult the hosts file before the DNS. Default on.
    pub use_hosts: bool,
    /// The hosts file to consult. Default `/etc/hosts`.
    pub hosts_file: PathBuf,
    /// Entries the cache may hold; 0 turns the cache off. Default 1024.
    pub cache_size: usize,
    /// Bytes the cache may hold (names and record data, counted as
    /// [`crate::Cache`] says). Default 1 MiB.
    pub cache_max_bytes: usize,
    /// The longest one lookup may take, over every search candidate,
    /// server, attempt and transport. `None` (the default) means
    /// `timeout × attempts × servers`, at most [`MAX_DEFAULT_LOOKUP_TIME`];
    /// any value is capped at [`MAX_LOOKUP_TIME`].
    pub lookup_timeout: Option<Duration>,
    /// The longest `connect` spends connecting once the name is resolved
    /// (Happy Eyeballs attempts, all together). Default 30 s.
    pub connect_timeout: Duration,
    /// Which address families `lookup_ip` and `connect` ask for. Default
    /// [`IpFamily::Both`]; `options no-aaaa` makes it [`IpFamily::V4Only`].
    pub ip_family: IpFamily,
    /// Ask A, then AAAA, one after the other instead of at once
    /// (`options single-request` and `single-request-reopen`, for
    /// middleboxes that drop one of two queries sent together; tern sends
    /// each query from a socket of its own, so "reopen" needs nothing more).
    pub single_request: bool,
    /// Ask over TCP only (`options use-vc`).
    pub use_vc: bool,
    /// The resolv.conf file this configuration was read from, if any
    /// (set by [`Config::from_file`] and [`Config::from_system`]). A
    /// resolver re-reads it when it changes, as glibc does, and takes the
    /// settings a resolv.conf holds from it; the other fields stay as set.
    pub resolv_conf: Option<PathBuf>,
    /// How often a resolver checks (one `stat` each) whether its
    /// resolv.conf or hosts file changed. Default 5 s; `Duration::ZERO`
    /// checks before every lookup, `Duration::MAX` never.
    pub reload_interval: Duration,
    /// 0x20 case randomisation: random letter case in each query name, and
    /// only replies that echo it exactly count (see `resolver/case.rs`).
    /// Default off.
    pub case_randomization: bool,
    /// Queries sent from one UDP socket before it moves to a new random
    /// source port. Default 1: a fresh random port for every query. 0
    /// means no limit: a socket keeps its port for as long as it lives
    /// (c-ares's default), and the queries in flight share it. A port
    /// change costs no new socket: `connect(AF_UNSPEC)` releases the port
    /// the kernel picked at the socket's first send, and the next send
    /// picks a new random one.
    pub udp_max_queries: u32,
    /// DNS cookies (RFC 7873), as c-ares sends them. Default on. With
    /// [`Config::edns`] on, every UDP query carries a COOKIE option: a
    /// random 8-byte client cookie of its own for each server (replaced
    /// after a day), then the server cookie that server last gave. A reply
    /// whose COOKIE option echoes another client cookie, or has a length
    /// RFC 7873 does not allow, is dropped and the wait goes on (as for a
    /// wrong ID); a reply without one is accepted (most servers send
    /// none). BADCOOKIE is asked again at once with the new server cookie,
    /// and over TCP (which carries no cookie) if that fails too. There is
    /// no resolv.conf option for this (glibc has no cookies); turn it off
    /// here for a middlebox that chokes on the option.
    pub cookies: bool,
    /// Sort `lookup_ip`'s addresses by RFC 6724's destination address
    /// selection, as glibc's `getaddrinfo` does. Default off: `lookup_ip`
    /// returns IPv4 then IPv6, each in answer order. When on, each
    /// address's source address is found by connecting a UDP socket to it
    /// (which sends nothing) and the addresses are sorted by rules 1
    /// (unreachable ones last), 2 (matching scope), 5 (matching label),
    /// 6 (higher precedence), 8 (smaller scope) and 9 (longest matching
    /// prefix, IPv6 only), stable otherwise, with RFC 6724's default
    /// policy table (see [`crate::rfc6724`]); `/etc/gai.conf` is not read.
    /// There is no resolv.conf option for this (glibc always sorts, and
    /// its `sortlist` option is not supported). [`crate::connect`] is not
    /// affected: Happy Eyeballs keeps its own RFC 8305 order.
    pub sort_rfc6724: bool,
    /// What [`Config::from_file`] read, for a resolver's watch to start
    /// from (not a setting: it compares equal whatever it holds).
    pub(crate) read: ReadStamp,
}

/// The resolv.conf a configuration was read from and its stamp when read
/// (`None`: it was missing), or nothing if it was not read from a file. A
/// resolver made later watches for changes since then, not since it was
/// made. Every `ReadStamp` equals every other: two configurations with the
/// same settings are equal however they were made.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadStamp(Option<(PathBuf, Option<Stamp>)>);

impl PartialEq for ReadStamp {
    fn eq(&self, _: &ReadStamp) -> bool {
        true
    }
}

impl Eq for ReadStamp {}

/// The address families a lookup of a host's addresses asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// A and AAAA.
    #[default]
    Both,
    /// A only (`options no-aaaa`).
    V4Only,
    /// AAAA only.
    V6Only,
}

impl IpFamily {
    /// Whether A records are asked for.
    pub fn wants_v4(self) -> bool {
        self != IpFamily::V6Only
    }

    /// Whether AAAA records are asked for.
    pub fn wants_v6(self) -> bool {
        self != IpFamily::V4Only
    }
}

/// The most the default per-lookup deadline allows: 30 s, what glibc takes
/// with its default timeout and attempts over three servers.
pub const MAX_DEFAULT_LOOKUP_TIME: Duration = Duration::from_secs(30);
/// The most any lookup deadline allows: one day.
pub const MAX_LOOKUP_TIME: Duration = Duration::from_secs(24 * 3600);

impl Default for Config {
    fn default() -> Config {
        Config {
            nameservers: vec![default_nameserver()],
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
            edns: true,
            use_hosts: true,
            hosts_file: PathBuf::from(HOSTS_FILE),
            cache_size: 1024,
            cache_max_bytes: crate::cache::DEFAULT_CACHE_BYTES,
            lookup_timeout: None,
            connect_timeout: CONNECT_TIMEOUT,
            ip_family: IpFamily::Both,
            single_request: false,
            use_vc: false,
            resolv_conf: None,
            reload_interval: Duration::from_secs(5),
            case_randomization: false,
            udp_max_queries: 1,
            cookies: true,
            sort_rfc6724: false,
            read: ReadStamp::default(),
        }
    }
}

/// 127.0.0.1:53, the server used when none is configured (as glibc does).
pub(crate) fn default_nameserver() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 53))
}

impl Config {
    /// The system's configuration: [`RESOLV_CONF`] (a missing file gives the
    /// defaults), then, as glibc does, the domain of the host name when the
    /// file has no `search` or `domain` line, then the `RES_OPTIONS` and
    /// `LOCALDOMAIN` environment variables (see [`Config::apply_env`]).
    ///
    /// Fails with [`Error::Io`] only if the file exists but cannot be read.
    pub fn from_system() -> Result<Config, Error> {
        let mut config = Config::from_file(Path::new(RESOLV_CONF))?;
        config.apply_system_overrides();
        Ok(config)
    }

    /// What [`Config::from_system`] adds to the file's settings: the host
    /// name's domain as the search list when the file sets none, then the
    /// environment.
    pub(crate) fn apply_system_overrides(&mut self) {
        let config = self;
        if config.search.is_empty() {
            let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            if let Some(domain) = hostname_domain(&hostname) {
                config.search = vec![domain];
            }
        }
        let res_options = std::env::var("RES_OPTIONS").ok();
        let localdomain = std::env::var("LOCALDOMAIN").ok();
        config.apply_env(res_options.as_deref(), localdomain.as_deref());
    }

    /// Takes from `file` (a configuration just read from resolv.conf) the
    /// settings a resolv.conf holds, keeping every other field of `self`.
    pub(crate) fn take_file_settings(&mut self, file: Config) {
        self.nameservers = file.nameservers;
        self.search = file.search;
        self.ndots = file.ndots;
        self.timeout = file.timeout;
        self.attempts = file.attempts;
        self.rotate = file.rotate;
        self.edns = file.edns;
        self.ip_family = file.ip_family;
        self.single_request = file.single_request;
        self.use_vc = file.use_vc;
        self.read = file.read;
    }

    /// The stamp `path` had when this configuration was read from it
    /// (`Some(None)`: it was missing), or `None` if it was not read from
    /// `path`.
    pub(crate) fn read_stamp(&self, path: &Path) -> Option<Option<Stamp>> {
        match &self.read.0 {
            Some((read, stamp)) if read == path => Some(*stamp),
            _ => None,
        }
    }

    /// Parses a resolv.conf file at `path`; a missing file gives the
    /// defaults. [`Config::resolv_conf`] is set to `path`, so a resolver
    /// re-reads the file when it changes. Bytes that are not UTF-8 are replaced (and so make their
    /// line unreadable, which skips it).
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        // The stamp is of the file read (fstat before reading), so a
        // resolver made later sees any change since.
        let (mut config, stamp) = match read_stamped(path) {
            Ok(Some((bytes, stamp))) => (
                Config::parse_resolv_conf(&String::from_utf8_lossy(&bytes))?,
                Some(stamp),
            ),
            Ok(None) => (Config::default(), None),
            Err(err) => {
                return Err(Error::Io(io::Error::new(
                    err.kind(),
                    format!("cannot read {}: {err}", path.display()),
                )))
            }
        };
        config.resolv_conf = Some(path.to_path_buf());
        config.read = ReadStamp(Some((path.to_path_buf(), stamp)));
        Ok(config)
    }

    /// Parses the text of a resolv.conf file as glibc does; see
    /// `resolv_conf.rs` for the exact rules. Lines that cannot be read are
    /// skipped, so this never fails today; the `Result` leaves room for
    /// stricter checks.
    pub fn parse_resolv_conf(text: &str) -> Result<Config, Error> {
        Ok(crate::resolv_conf::parse(text))
    }

    /// Applies the environment overrides glibc reads: `res_options` is the
    /// value of `RES_OPTIONS` (same syntax as an `options` line, applied
    /// after the file's), `localdomain` the value of `LOCALDOMAIN` (a
    /// whitespace-separated search list that replaces the file's; an empty
    /// value empties it).
    pub fn apply_env(&mut self, res_options: Option<&str>, localdomain: Option<&str>) {
        if let Some(options) = res_options {
            crate::resolv_conf::apply_options(self, options.split_ascii_whitespace());
        }
        if let Some(domains) = localdomain {
            self.search = crate::resolv_conf::search_list(domains.split_ascii_whitespace());
        }
    }

    /// How long one lookup may take in all: [`Config::lookup_timeout`], or
    /// by default `timeout × attempts × servers` capped at
    /// [`MAX_DEFAULT_LOOKUP_TIME`]; never more than [`MAX_LOOKUP_TIME`].
    /// Saturates, so `Duration::MAX` and `u32::MAX` attempts are fine.
    pub fn lookup_time(&self) -> Duration {
        let time = self.lookup_timeout.unwrap_or_else(|| {
            let servers = u32::try_from(self.nameservers.len().max(1)).unwrap_or(u32::MAX);
            self.timeout
                .saturating_mul(self.attempts.max(1))
                .saturating_mul(servers)
                .min(MAX_DEFAULT_LOOKUP_TIME)
        });
        time.min(MAX_LOOKUP_TIME)
    }

    /// The EDNS payload to offer in queries: `Some(EDNS_PAYLOAD)` when
    /// [`Config::edns`] is on, for [`crate::wire::Message::query`].
    pub fn edns_payload(&self) -> Option<u16> {
        self.edns.then_some(EDNS_PAYLOAD)
    }
}

/// The domain part of a host name (`"db"` + `"example.com"` for
/// `"db.example.com"`), which glibc uses as the search list when
/// resolv.conf sets none.
fn hostname_domain(hostname: &str) -> Option<String> {
    let (_, domain) = hostname.trim().split_once('.')?;
    let domain = domain.trim_end_matches('.');
    (!domain.is_empty()).then(|| domain.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_glibcs() {
        let c = Config::default();
        assert_eq!(c.nameservers, vec!["127.0.0.1:53".parse().unwrap()]);
        assert!(c.search.is_empty());
        assert_eq!(c.ndots, 1);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.attempts, 2);
        assert!(!c.rotate);
        assert!(c.edns && c.use_hosts);
        assert_eq!(c.hosts_file, PathBuf::from("/etc/hosts"));
        assert_eq!(c.cache_size, 1024);
        assert_eq!(c.udp_max_queries, 1);
        assert!(c.cookies && !c.sort_rfc6724);
        assert_eq!(c.edns_payload(), Some(1232));
        assert_eq!(c.lookup_time(), Duration::from_secs(10));
    }

    #[test]
    fn lookup_time_saturates_and_is_capped() {
        let mut c = Config {
            timeout: Duration::MAX,
            attempts: u32::MAX,
            ..Config::default()
        };
        assert_eq!(c.lookup_time(), MAX_DEFAULT_LOOKUP_TIME);
        c.lookup_timeout = Some(Duration::MAX);
        assert_eq!(c.lookup_time(), MAX_LOOKUP_TIME);
        c.lookup_timeout = Some(Duration::from_millis(5));
        assert_eq!(c.lookup_time(), Duration::from_millis(5));
    }

    #[test]
    fn hostname_gives_domain() {
        assert_eq!(
            hostname_domain("db.example.com\n").as_deref(),
            Some("example.com")
        );
        assert_eq!(hostname_domain("box"), None);
        assert_eq!(hostname_domain("box."), None);
        assert_eq!(hostname_domain(""), None);
    }

    #[test]
    fn env_overrides() {
        let mut c =
            Config::parse_resolv_conf("search a.example b.example\noptions ndots:2").unwrap();
        c.apply_env(Some("ndots:4 rotate timeout:2"), None);
        assert_eq!(c.ndots, 4);
        assert!(c.rotate);
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.search, ["a.example", "b.example"]);
        c.apply_env(None, Some(" c.example\td.example "));
        assert_eq!(c.search, ["c.example", "d.example"]);
        c.apply_env(None, Some(""));
        assert!(c.search.is_empty());
    }

    #[test]
    fn missing_file_gives_defaults() {
        let path = Path::new("/nonexistent/tern/resolv.conf");
        let c = Config::from_file(path).unwrap();
        assert_eq!(
            c,
            Config {
                resolv_conf: Some(path.to_path_buf()),
                ..Config::default()
            }
        );
        // A directory cannot be read as a file.
        assert!(matches!(
            Config::from_file(Path::new("/")),
            Err(Error::Io(_))
        ));
    }
}
