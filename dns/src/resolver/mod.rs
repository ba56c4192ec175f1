//! The async stub resolver: [`Resolver`], [`resolve`] and (in
//! [`happy`]) [`connect`].
//!
//! # Implementation
//!
//! The rules live in pure code ([`crate::exchange`], [`crate::search`],
//! [`crate::Cache`]); this module is the loop around them. For a name:
//!
//! 1. IP literals and `localhost` are answered at once; then the hosts file
//!    (when `use_hosts`).
//! 2. Each candidate from the search list, in resolv.conf(5) order: A and
//!    AAAA are asked at once (two sockets), each through the cache, then
//!    the servers in [`attempt_plan`] order, each attempt with its own
//!    timeout. NXDOMAIN and NODATA move on to the next candidate; so does
//!    SERVFAIL/REFUSED from every server; a timeout or I/O failure ends
//!    the lookup.
//! 3. Addresses come back in answer order, IPv4 first, then IPv6.
//!
//! A resolver is single-threaded (`Rc` inside): create it anywhere, use it
//! on one runtime thread. [`resolve`] and [`connect`] share one resolver
//! per thread, built from the system configuration on first use.

pub mod happy;
mod inflight;
mod join;
mod transport;
mod udp_pool;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

use crate::cache::Cache;
use crate::config::Config;
use crate::error::Error;
use crate::exchange::{attempt_plan, extract_answer, negative_ttl};
use crate::hosts::Hosts;
use crate::name::Name;
use crate::record::{RData, Record, RecordType};
use crate::search::{ip_literal, localhost_addrs, search_candidates};

pub use happy::connect;
use join::join;
use transport::{ask, MAX_MESSAGE};
pub use udp_pool::close_idle_sockets;

/// A stub resolver with its own configuration, hosts table and cache.
///
/// ```no_run
/// # tern::block_on(async {
/// use tern::dns::{Config, Resolver};
/// let mut config = Config::default();
/// config.nameservers = vec!["127.0.0.1:5353".parse().unwrap()];
/// let resolver = Resolver::new(config);
/// let ips = resolver.lookup_ip("www.example.test").await?;
/// # Ok::<(), tern::dns::Error>(()) });
/// ```
#[derive(Clone)]
pub struct Resolver {
    inner: Rc<Inner>,
}

struct Inner {
    config: Config,
    hosts: Hosts,
    cache: RefCell<Cache>,
    rotation: Cell<usize>,
    buffers: RefCell<Vec<Vec<u8>>>,
    inflight: inflight::InFlight,
}

thread_local! {
    static SYSTEM: RefCell<Option<Resolver>> = const { RefCell::new(None) };
}

/// The thread's resolver built from the system configuration.
pub(crate) fn system_resolver() -> Result<Resolver, Error> {
    SYSTEM.with(|s| {
        if let Some(r) = &*s.borrow() {
            return Ok(r.clone());
        }
        let r = Resolver::system()?;
        *s.borrow_mut() = Some(r.clone());
        Ok(r)
    })
}

/// Resolves `host` to its addresses with the system configuration
/// (`/etc/resolv.conf`, `/etc/hosts`, `RES_OPTIONS`, `LOCALDOMAIN`) and a
/// cache shared by every call on this thread.
pub async fn resolve(host: &str) -> Result<Vec<IpAddr>, Error> {
    if let Some(ip) = ip_literal(host) {
        return Ok(vec![ip]);
    }
    system_resolver()?.lookup_ip(host).await
}

impl Resolver {
    /// A resolver from the system configuration (see [`Config::from_system`]).
    pub fn system() -> Result<Resolver, Error> {
        Ok(Resolver::new(Config::from_system()?))
    }

    /// A resolver with `config`. The hosts file is read now (when
    /// `use_hosts`); a missing or unreadable one counts as empty.
    pub fn new(config: Config) -> Resolver {
        let hosts = if config.use_hosts {
            Hosts::load(&config.hosts_file).unwrap_or_else(|_| Hosts::parse(""))
        } else {
            Hosts::parse("")
        };
        Resolver {
            inner: Rc::new(Inner {
                cache: RefCell::new(Cache::new(config.cache_size)),
                config,
                hosts,
                rotation: Cell::new(0),
                buffers: RefCell::new(Vec::new()),
                inflight: inflight::InFlight::default(),
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        self.inner.cache.borrow_mut().clear();
    }

    /// Number of cached answers.
    pub fn cache_len(&self) -> usize {
        self.inner.cache.borrow().len()
    }

    /// The addresses of `host`: IPv4 then IPv6, each in answer order. The
    /// A and AAAA queries are in flight at once; if one family fails
    /// (times out, say) while the other has addresses, those are returned.
    pub async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, Error> {
        if let Some(ip) = ip_literal(host) {
            return Ok(vec![ip]);
        }
        if let Some(ips) = localhost_addrs(host) {
            return Ok(ips);
        }
        let candidates = search_candidates(host, &self.inner.config)?;
        if let Some(ips) = self.hosts_addrs(host) {
            return Ok(ips);
        }
        let mut outcome = SearchOutcome::default();
        for name in &candidates {
            let (v4, v6) = join(
                self.query(name, RecordType::A),
                self.query(name, RecordType::AAAA),
            )
            .await;
            match (v4, v6) {
                (Ok(a), Ok(b)) => return Ok(addresses(&a).chain(addresses(&b)).collect()),
                (Ok(r), Err(_)) | (Err(_), Ok(r)) => return Ok(addresses(&r).collect()),
                (Err(e4), Err(e6)) => {
                    let stop4 = outcome.note(e4);
                    let stop6 = outcome.note(e6);
                    if let Some(e) = stop4.or(stop6) {
                        return Err(e);
                    }
                }
            }
        }
        Err(outcome.finish())
    }

    /// The records of type `rtype` for `name`, following CNAMEs within each
    /// answer, trying the search list as [`lookup_ip`](Resolver::lookup_ip)
    /// does. The hosts file is not consulted.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, Error> {
        let mut outcome = SearchOutcome::default();
        for candidate in search_candidates(name, &self.inner.config)? {
            match self.query(&candidate, rtype).await {
                Ok(records) => return Ok(records),
                Err(e) => {
                    if let Some(e) = outcome.note(e) {
                        return Err(e);
                    }
                }
            }
        }
        Err(outcome.finish())
    }

    /// The names of `ip` (PTR records under in-addr.arpa or ip6.arpa), from
    /// the hosts file first when `use_hosts`.
    pub async fn reverse(&self, ip: IpAddr) -> Result<Vec<Name>, Error> {
        if self.inner.config.use_hosts {
            let names = self.inner.hosts.reverse(ip);
            if !names.is_empty() {
                return Ok(names.to_vec());
            }
        }
        let records = self.query(&Name::reverse_of(ip), RecordType::PTR).await?;
        Ok(records
            .into_iter()
            .filter_map(|r| match r.data {
                RData::PTR(name) => Some(name),
                _ => None,
            })
            .collect())
    }

    /// Addresses of `host` in the hosts file, IPv4 first.
    fn hosts_addrs(&self, host: &str) -> Option<Vec<IpAddr>> {
        if !self.inner.config.use_hosts || self.inner.hosts.is_empty() {
            return None;
        }
        let name: Name = host.parse().ok()?;
        let found = self.inner.hosts.lookup(&name);
        if found.is_empty() {
            return None;
        }
        let v4 = found.iter().filter(|ip| ip.is_ipv4());
        let v6 = found.iter().filter(|ip| ip.is_ipv6());
        Some(v4.chain(v6).copied().collect())
    }

    /// One name and type: the cache, then the servers.
    pub(crate) async fn query(&self, name: &Name, rtype: RecordType) -> Result<Vec<Record>, Error> {
        let inner = &self.inner;
        if let Some(hit) = inner.cache.borrow_mut().get(name, rtype, Instant::now()) {
            return hit;
        }
        // Identical lookups in flight share one query.
        let leader = loop {
            match inner.inflight.enter(name, rtype) {
                inflight::Role::Leader(leader) => break leader,
                inflight::Role::Follower(f) => {
                    if let Some(outcome) = f.outcome().await {
                        return outcome;
                    }
                }
            }
        };
        let (result, neg_ttl) = self.ask_servers(name, rtype).await;
        leader.finish(&result);
        inner.cache.borrow_mut().insert_result(
            name.clone(),
            rtype,
            &result,
            neg_ttl,
            Instant::now(),
        );
        result
    }

    async fn ask_servers(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> (Result<Vec<Record>, Error>, Option<u32>) {
        let inner = &self.inner;
        let config = &inner.config;
        let rotation = inner.rotation.get();
        inner.rotation.set(rotation.wrapping_add(1));
        let plan = attempt_plan(config, rotation);
        if plan.is_empty() {
            return (
                Err(Error::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no nameservers configured",
                ))),
                None,
            );
        }
        let mut buf = inner
            .buffers
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| vec![0u8; MAX_MESSAGE]);
        let mut last = Error::Timeout;
        let mut answer = None;
        for server in plan {
            match ask(
                server,
                name,
                rtype,
                config.edns_payload(),
                config.timeout,
                config.udp_max_queries,
                &mut buf,
            )
            .await
            {
                Ok(reply) => {
                    answer = Some((
                        extract_answer(name, rtype, &reply),
                        negative_ttl(name, &reply),
                    ));
                    break;
                }
                Err(e) => last = e,
            }
        }
        inner.buffers.borrow_mut().push(buf);
        answer.unwrap_or((Err(last), None))
    }
}

fn addresses(records: &[Record]) -> impl Iterator<Item = IpAddr> + '_ {
    records.iter().filter_map(|r| match r.data {
        RData::A(ip) => Some(IpAddr::V4(ip)),
        RData::AAAA(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// What the search list has met so far, to pick the error to report when
/// no candidate answers (glibc's order: NODATA, then a server failure, then
/// NXDOMAIN).
#[derive(Default)]
struct SearchOutcome {
    nodata: bool,
    failure: Option<Error>,
}

impl SearchOutcome {
    /// Records a candidate's error; returns it back if the search must stop.
    fn note(&mut self, e: Error) -> Option<Error> {
        match e {
            Error::NxDomain => None,
            Error::NoData => {
                self.nodata = true;
                None
            }
            Error::ServFail | Error::Refused => {
                self.failure.get_or_insert(e);
                None
            }
            other => Some(other),
        }
    }

    fn finish(self) -> Error {
        if self.nodata {
            Error::NoData
        } else {
            self.failure.unwrap_or(Error::NxDomain)
        }
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("config", &self.inner.config)
            .field("cached", &self.cache_len())
            .finish()
    }
}
