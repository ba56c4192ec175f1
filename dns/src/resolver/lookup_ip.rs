//! `lookup_ip`'s walk over the search candidates: for each name, the A and
//! AAAA queries that [`Config::ip_family`](crate::Config::ip_family) and
//! [`Config::single_request`](crate::Config::single_request) call for.
//!
//! Both families go out at once by default. Once one of them has answered
//! with addresses, the other gets [`AAAA_GRACE`] more and is then given up
//! (RFC 8305's resolution delay, applied to the lookup itself): a server
//! or middlebox that drops AAAA queries costs a fraction of a second, not
//! the timeout times the attempts.

use std::net::IpAddr;
use std::time::{Duration, Instant};

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
        match (family.wants_v4(), family.wants_v6()) {
            (true, false) => (Some(a().await), None),
            (false, true) => (None, Some(aaaa().await)),
            _ if config.single_request => {
                let v4 = a().await;
                (Some(v4), Some(aaaa().await))
            }
            _ => {
                let has_addresses = |r: &Answer| r.as_ref().is_ok_and(|v| !v.is_empty());
                join_with_grace(a(), aaaa(), AAAA_GRACE, has_addresses).await
            }
        }
    }
}
