//! The async stub resolver: [`Resolver`], [`resolve`] and (in
//! [`happy`]) [`connect`].
//!
//! # Implementation
//!
//! The rules live in pure code ([`crate::exchange`], [`crate::search`],
//! [`crate::Cache`]); this module is the loop around them. For a name:
//!
//! 0. resolv.conf and the hosts file are re-read if they changed
//!    (`reload.rs`, at most one `stat` each per `reload_interval`).
//! 1. IP literals and `localhost` are answered at once; then the hosts file
//!    (when `use_hosts`).
//! 2. Each candidate from the search list, in resolv.conf(5) order: A and
//!    AAAA (as `ip_family` and `single_request` say, `lookup_ip.rs`), each
//!    through the cache, then the servers in [`attempt_plan`](crate::exchange::attempt_plan) order with
//!    failed ones moved last (`servers.rs`), each attempt with its own
//!    timeout, the whole lookup within [`Config::lookup_time`]. NXDOMAIN,
//!    NODATA and SERVFAIL move on to the next candidate; REFUSED, a
//!    timeout or an I/O failure ends the search ([`SearchOutcome`]).
//! 3. Addresses come back in answer order, IPv4 first, then IPv6; or, with
//!    `sort_rfc6724`, in RFC 6724 order ([`crate::rfc6724`]). `connect`
//!    keeps its own RFC 8305 order either way.
//!
//! A resolver is single-threaded (`Rc` inside): create it anywhere, use it
//! on one runtime thread. [`resolve`] and [`connect`] share one resolver
//! per thread, built from the system configuration on first use.

mod attempts;
mod case;
mod channel;
mod dual_search;
pub mod happy;
mod inflight;
mod join;
mod lookup_ip;
mod reload;
mod servers;
mod transport;
mod vc;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tern_runtime::cooperative;
use tern_runtime::time::timeout_at;

use crate::cache::Cache;
use crate::config::Config;
use crate::error::Error;
use crate::hosts::Hosts;
use crate::name::Name;
use crate::record::{RData, Record, RecordType};
use crate::search::{candidates, ip_literal, localhost_addrs, Candidates};

pub use channel::close_idle_sockets;
pub use happy::connect;
pub use lookup_ip::AAAA_GRACE;
use reload::Watch;
pub(crate) use reload::{read_stamped, Stamp};
use servers::Servers;

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
    /// Replaced (not changed in place) when resolv.conf is re-read.
    config: RefCell<Rc<Config>>,
    /// Replaced when the hosts file is re-read.
    hosts: RefCell<Rc<Hosts>>,
    watch: RefCell<Watch>,
    cache: RefCell<Cache>,
    rotation: Cell<usize>,
    servers: RefCell<Servers>,
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
        // Answered at once, and under the budget like every lookup.
        return cooperative(async { Ok(vec![ip]) }).await;
    }
    system_resolver()?.lookup_ip(host).await
}

impl Resolver {
    /// A resolver from the system configuration (see [`Config::from_system`]).
    pub fn system() -> Result<Resolver, Error> {
        Ok(Resolver::new(Config::from_system()?))
    }

    /// A resolver with `config`. The hosts file is read now (when
    /// `use_hosts`); a missing or unreadable one counts as empty. It and
    /// [`Config::resolv_conf`] (when set) are re-read when they change,
    /// checked at most once per [`Config::reload_interval`].
    pub fn new(config: Config) -> Resolver {
        // Stat'ed before it is read: a change from then on is seen.
        let (hosts, hosts_stamp) = if config.use_hosts {
            let stamp = Stamp::of(&config.hosts_file);
            let hosts = Hosts::load(&config.hosts_file).unwrap_or_else(|_| Hosts::parse(""));
            (hosts, stamp)
        } else {
            (Hosts::parse(""), None)
        };
        let now = tern_runtime::time::now();
        Resolver {
            inner: Rc::new(Inner {
                cache: RefCell::new(Cache::with_limits(
                    config.cache_size,
                    config.cache_max_bytes,
                )),
                watch: RefCell::new(Watch::new(&config, hosts_stamp, now)),
                config: RefCell::new(Rc::new(config)),
                hosts: RefCell::new(Rc::new(hosts)),
                rotation: Cell::new(0),
                servers: RefCell::new(Servers::default()),
                inflight: inflight::InFlight::default(),
            }),
        }
    }

    /// The configuration in use (it changes when resolv.conf is re-read).
    pub fn config(&self) -> Rc<Config> {
        self.inner.config.borrow().clone()
    }

    /// The hosts table in use.
    fn hosts(&self) -> Rc<Hosts> {
        self.inner.hosts.borrow().clone()
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        self.inner.cache.borrow_mut().clear();
    }

    /// Number of cached answers.
    pub fn cache_len(&self) -> usize {
        self.inner.cache.borrow().len()
    }

    /// Number of servers the resolver keeps state for (health, EDNS,
    /// cookies): those configured that were asked, and any a lookup begun
    /// before resolv.conf was re-read still asks. For tests.
    #[doc(hidden)]
    pub fn server_states(&self) -> usize {
        self.inner.servers.borrow().len()
    }

    /// The addresses of `host`: IPv4 then IPv6, each in answer order, of
    /// the families [`Config::ip_family`] asks for; or, with
    /// [`Config::sort_rfc6724`], in RFC 6724 order as glibc's
    /// `getaddrinfo` sorts them. The A and AAAA queries
    /// are in flight at once (one after the other with
    /// [`Config::single_request`]); if one family fails (times out, say)
    /// while the other has addresses, those are returned, and once one
    /// family has addresses the other gets [`AAAA_GRACE`] more.
    ///
    /// Like every lookup, it spends one unit of its task's cooperative
    /// budget ([`tern_runtime::cooperative`]): a loop of lookups that
    /// complete at once (cache hits, replies already queued) still lets
    /// other tasks and I/O run.
    pub async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, Error> {
        let ips = cooperative(self.lookup_ip_in_answer_order(host)).await?;
        Ok(if self.config().sort_rfc6724 && ips.len() > 1 {
            lookup_ip::rfc6724_order(&ips)
        } else {
            ips
        })
    }

    /// The addresses `localhost` or the hosts file give `host`, of the
    /// families [`Config::ip_family`] asks for; `None` when the DNS is to be
    /// asked (the hosts file has none of those families for `host`).
    fn local_addrs(&self, host: &str) -> Option<Vec<IpAddr>> {
        let family = self.config().ip_family;
        let of_family = |ips: Vec<IpAddr>| -> Vec<IpAddr> {
            ips.into_iter()
                .filter(|ip| {
                    if ip.is_ipv4() {
                        family.wants_v4()
                    } else {
                        family.wants_v6()
                    }
                })
                .collect()
        };
        localhost_addrs(host).map(of_family).or_else(|| {
            self.hosts_addrs(host)
                .map(of_family)
                .filter(|ips| !ips.is_empty())
        })
    }

    /// `lookup_ip` before any sorting: IPv4, then IPv6, in answer order.
    async fn lookup_ip_in_answer_order(&self, host: &str) -> Result<Vec<IpAddr>, Error> {
        if let Some(ip) = ip_literal(host) {
            return Ok(vec![ip]);
        }
        self.refresh();
        let candidates = candidates(host, &self.config())?;
        if let Some(ips) = self.local_addrs(host) {
            return Ok(ips);
        }
        let deadline = self.deadline();
        timeout_at(deadline, self.search_ip(&candidates, deadline))
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    /// The records of type `rtype` for `name`, following CNAMEs within each
    /// answer, trying the search list as [`lookup_ip`](Resolver::lookup_ip)
    /// does. The hosts file is not consulted.
    ///
    /// `localhost` and names under it are answered here (RFC 6761 §6.3):
    /// 127.0.0.1 for A, ::1 for AAAA, NODATA for every other type.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, Error> {
        cooperative(self.lookup_records(name, rtype)).await
    }

    /// [`lookup`](Resolver::lookup) but for the cooperative budget.
    async fn lookup_records(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, Error> {
        let now = tern_runtime::time::now();
        self.refresh_at(now);
        let rtype = rtype.normalized();
        let candidates = candidates(name, &self.config())?;
        if let Some(records) = localhost_records(name, rtype) {
            return records;
        }
        let deadline = deadline_from(now, self.config().lookup_time());
        timeout_at(deadline, self.search(candidates, rtype, deadline))
            .await
            .unwrap_or(Err(Error::Timeout))
    }

    /// `lookup`'s walk over the search candidates.
    async fn search(
        &self,
        candidates: Candidates,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Vec<Record>, Error> {
        let mut outcome = SearchOutcome::default();
        for candidate in candidates.iter() {
            match self.query(candidate, rtype, deadline).await {
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
        cooperative(self.reverse_names(ip)).await
    }

    /// [`reverse`](Resolver::reverse) but for the cooperative budget.
    async fn reverse_names(&self, ip: IpAddr) -> Result<Vec<Name>, Error> {
        self.refresh();
        if self.config().use_hosts {
            let names = self.hosts().reverse(ip).to_vec();
            if !names.is_empty() {
                return Ok(names);
            }
        }
        let deadline = self.deadline();
        let name = Name::reverse_of(ip);
        let records = timeout_at(deadline, self.query(&name, RecordType::PTR, deadline))
            .await
            .unwrap_or(Err(Error::Timeout))?;
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
        let hosts = self.hosts();
        if !self.config().use_hosts || hosts.is_empty() {
            return None;
        }
        let name: Name = host.parse().ok()?;
        let found = hosts.lookup(&name);
        if found.is_empty() {
            return None;
        }
        let v4 = found.iter().filter(|ip| ip.is_ipv4());
        let v6 = found.iter().filter(|ip| ip.is_ipv6());
        Some(v4.chain(v6).copied().collect())
    }

    /// When a lookup starting now must be over ([`Config::lookup_time`]).
    pub(crate) fn deadline(&self) -> Instant {
        deadline_after(self.config().lookup_time())
    }
}

/// The answer for `host` if it is `localhost` or below it.
fn localhost_records(host: &str, rtype: RecordType) -> Option<Result<Vec<Record>, Error>> {
    let ips = localhost_addrs(host)?;
    let name: Name = host.parse().ok()?;
    let records: Vec<Record> = ips
        .into_iter()
        .filter_map(|ip| {
            let data = match (ip, rtype) {
                (IpAddr::V4(v4), RecordType::A) => RData::A(v4),
                (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(v6),
                _ => return None,
            };
            Some(Record {
                name: name.clone(),
                ttl: 0,
                data,
            })
        })
        .collect();
    Some(if records.is_empty() {
        Err(Error::NoData)
    } else {
        Ok(records)
    })
}

/// `now + time`, or far in the future if that does not fit an `Instant`.
pub(crate) fn deadline_after(time: Duration) -> Instant {
    deadline_from(tern_runtime::time::now(), time)
}

/// `now + time`, or far in the future if that does not fit an `Instant`.
fn deadline_from(now: Instant, time: Duration) -> Instant {
    now.checked_add(time)
        .or_else(|| now.checked_add(crate::config::MAX_LOOKUP_TIME))
        .unwrap_or(now)
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
///
/// The rules are glibc's `res_nsearch` (c-ares does the same): NXDOMAIN
/// and NODATA go on to the next candidate; so does SERVFAIL (a broken zone
/// may sit beside a working one), remembered as a temporary failure; any
/// other failure — REFUSED, a timeout, an I/O error — stops the search, so
/// a refused or unreachable zone never lets a later search domain answer
/// for the name the user meant.
#[derive(Default)]
pub(crate) struct SearchOutcome {
    nodata: bool,
    failure: Option<Error>,
}

impl SearchOutcome {
    /// Records a candidate's error; returns it back if the search must stop.
    pub(crate) fn note(&mut self, e: Error) -> Option<Error> {
        match e {
            Error::NxDomain => None,
            Error::NoData => {
                self.nodata = true;
                None
            }
            Error::ServFail => {
                self.failure.get_or_insert(e);
                None
            }
            other => Some(other),
        }
    }

    /// The error to report once every candidate has been tried.
    pub(crate) fn finish(self) -> Error {
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
            .field("config", &self.config())
            .field("cached", &self.cache_len())
            .finish()
    }
}
