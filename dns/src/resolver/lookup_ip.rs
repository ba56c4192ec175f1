//! `lookup_ip`'s walk over the search candidates: for each name, the A and
//! AAAA queries that [`Config::ip_family`](crate::Config::ip_family) and
//! [`Config::single_request`](crate::Config::single_request) call for.
//!
//! Both families go out at once by default. Once one of them has answered
//! with addresses, the other gets [`AAAA_GRACE`] more and is then given up
//! (RFC 8305's resolution delay, applied to the lookup itself): a server
//! or middlebox that drops AAAA queries costs a fraction of a second, not
//! the timeout times the attempts. With `single_request` the AAAA query
//! leaves once A is done and, if A had addresses, gets what it would have
//! had in flight with A: the time A took, then [`AAAA_GRACE`].
//!
//! With [`Config::sort_rfc6724`](crate::Config::sort_rfc6724) the result
//! is sorted by [`crate::rfc6724::sort`], each address's source found by
//! [`source_for`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use tern_runtime::time::timeout;

use super::join::join_with_grace;
use super::{addresses, Resolver, SearchOutcome};
use crate::error::Error;
use crate::name::Name;
use crate::record::{Record, RecordType};

/// How long `lookup_ip` waits for the second family once the first has
/// answered with addresses.
pub const AAAA_GRACE: Duration = Duration::from_millis(250);

type Answer = Result<Vec<Record>, Error>;

impl Resolver {
    /// `lookup_ip`'s walk over the search candidates.
    pub(crate) async fn search_ip(
        &self,
        candidates: &[Name],
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, Error> {
        let mut outcome = SearchOutcome::default();
        for name in candidates {
            let (v4, v6) = self.both_families(name, deadline).await;
            let v4 = v4.unwrap_or(Ok(Vec::new()));
            let v6 = v6.unwrap_or(Ok(Vec::new()));
            let found: Vec<IpAddr> = [&v4, &v6]
                .into_iter()
                .flat_map(|r| r.as_deref().map(addresses).into_iter().flatten())
                .collect();
            if !found.is_empty() {
                return Ok(found);
            }
            for e in [v4, v6].into_iter().filter_map(Result::err) {
                if let Some(stop) = outcome.note(e) {
                    return Err(stop);
                }
            }
        }
        Err(outcome.finish())
    }

    /// The A and AAAA answers for `name`; `None` for a family not asked
    /// (or given up after the grace period).
    async fn both_families(
        &self,
        name: &Name,
        deadline: Instant,
    ) -> (Option<Answer>, Option<Answer>) {
        let config = self.config();
        let family = config.ip_family;
        let a = || self.query(name, RecordType::A, deadline);
        let aaaa = || self.query(name, RecordType::AAAA, deadline);
        let has_addresses = |r: &Answer| r.as_ref().is_ok_and(|v| !v.is_empty());
        match (family.wants_v4(), family.wants_v6()) {
            (true, false) => (Some(a().await), None),
            (false, true) => (None, Some(aaaa().await)),
            _ if config.single_request => {
                let asked = tern_runtime::time::now();
                let v4 = a().await;
                // A has addresses: AAAA gets what it would with both in
                // flight, the time A took and then the grace period.
                let v6 = if has_addresses(&v4) {
                    let took = tern_runtime::time::now().saturating_duration_since(asked);
                    timeout(took.saturating_add(AAAA_GRACE), aaaa()).await.ok()
                } else {
                    Some(aaaa().await)
                };
                (Some(v4), v6)
            }
            _ => join_with_grace(a(), aaaa(), AAAA_GRACE, has_addresses).await,
        }
    }
}

/// `ips` in RFC 6724 order, each with the source address [`source_for`]
/// finds for it.
pub(crate) fn rfc6724_order(ips: &[IpAddr]) -> Vec<IpAddr> {
    let candidates: Vec<(IpAddr, Option<IpAddr>)> =
        ips.iter().map(|&ip| (ip, source_for(ip))).collect();
    crate::rfc6724::sort(&candidates)
}

/// The source address the kernel picks to reach `dest`, as glibc's
/// `getaddrinfo` finds it: a UDP socket connected to `dest` (a UDP connect
/// sends no packet) and its local address. `None` when there is no route
/// (the connect fails), which RFC 6724's rule 1 sorts last.
pub(crate) fn source_for(dest: IpAddr) -> Option<IpAddr> {
    let any: IpAddr = match dest {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    // Any port will do: nothing is sent.
    socket.connect(SocketAddr::new(dest, 53)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one unit test that asks the kernel: sources of loopback
    /// addresses only (a UDP connect sends nothing, and loopback goes
    /// nowhere).
    #[test]
    fn loopback_sources_come_from_the_kernel() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(source_for(v4), Some(v4));
        match source_for(v6) {
            Some(source) => {
                assert_eq!(source, v6);
                // ::1 (precedence 50) before 127.0.0.1 (35).
                assert_eq!(rfc6724_order(&[v4, v6]), [v6, v4]);
            }
            None => {
                println!("notice: ::1 is not configured here; only unreachable-last is checked");
                assert_eq!(rfc6724_order(&[v6, v4]), [v4, v6]);
            }
        }
    }
}
