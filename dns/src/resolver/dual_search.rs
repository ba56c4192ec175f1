//! The search list as `connect` walks it: both families of one candidate
//! name at a time ([`DualSearch`]), the next candidate only when both came
//! back without data, so the name connected to is the one `lookup_ip`
//! would settle on.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use super::{addresses, Resolver, SearchOutcome};
use crate::error::Error;
use crate::name::Name;
use crate::record::RecordType;
use tern_runtime::time::timeout_at;

type Lookup<'a> = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, Error>> + 'a>>;

/// The two lookups of one search candidate at a time, moving to the next
/// candidate only when both families came back without data.
pub(crate) struct DualSearch<'a> {
    resolver: &'a Resolver,
    deadline: Instant,
    names: std::vec::IntoIter<Name>,
    aaaa: Option<Lookup<'a>>,
    a: Option<Lookup<'a>>,
    /// With `single_request`, the AAAA lookup waiting for A to finish.
    held_aaaa: Option<Lookup<'a>>,
    /// Results of the current candidate, held until it is settled.
    v6: Option<Result<Vec<IpAddr>, Error>>,
    v4: Option<Result<Vec<IpAddr>, Error>>,
    settled: bool,
    outcome: SearchOutcome,
}

/// What one poll of [`DualSearch`] brought.
#[derive(Default)]
pub(crate) struct Found {
    pub(crate) v6: Option<Result<Vec<IpAddr>, Error>>,
    pub(crate) v4: Option<Result<Vec<IpAddr>, Error>>,
    /// No lookup is left.
    pub(crate) done: bool,
}

impl<'a> DualSearch<'a> {
    pub(crate) fn new(
        resolver: &'a Resolver,
        names: Vec<Name>,
        deadline: Instant,
    ) -> DualSearch<'a> {
        let mut search = DualSearch {
            resolver,
            deadline,
            names: names.into_iter(),
            aaaa: None,
            a: None,
            held_aaaa: None,
            v6: None,
            v4: None,
            settled: false,
            outcome: SearchOutcome::default(),
        };
        search.next_candidate();
        search
    }

    /// Starts both lookups for the next candidate; false if there is none.
    fn next_candidate(&mut self) -> bool {
        let Some(name) = self.names.next() else {
            return false;
        };
        let (resolver, deadline) = (self.resolver, self.deadline);
        let config = resolver.config();
        // A family not asked for counts as answered without data.
        if config.ip_family.wants_v6() {
            self.aaaa = Some(family(resolver, name.clone(), RecordType::AAAA, deadline));
        } else {
            self.v6 = Some(Ok(Vec::new()));
        }
        if config.ip_family.wants_v4() {
            self.a = Some(family(resolver, name.clone(), RecordType::A, deadline));
        } else {
            self.v4 = Some(Ok(Vec::new()));
        }
        // single-request: AAAA only once A is done.
        self.held_aaaa = match self.aaaa.take() {
            Some(aaaa) if config.single_request && self.a.is_some() => Some(aaaa),
            aaaa => {
                self.aaaa = aaaa;
                None
            }
        };
        true
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Found {
        loop {
            if let Some(f) = &mut self.aaaa {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    self.aaaa = None;
                    self.v6 = Some(r);
                }
            }
            if let Some(f) = &mut self.a {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    self.a = None;
                    self.v4 = Some(r);
                    if let Some(aaaa) = self.held_aaaa.take() {
                        self.aaaa = Some(aaaa);
                        continue;
                    }
                }
            }
            let has_data =
                |r: &Option<Result<Vec<IpAddr>, Error>>| matches!(r, Some(Ok(v)) if !v.is_empty());
            if !self.settled && (has_data(&self.v6) || has_data(&self.v4)) {
                self.settled = true;
            }
            if self.settled {
                return Found {
                    v6: self.v6.take(),
                    v4: self.v4.take(),
                    done: self.aaaa.is_none() && self.a.is_none(),
                };
            }
            if self.v6.is_none() || self.v4.is_none() {
                return Found::default();
            }
            // Both families of this candidate came back without data.
            let errors = [self.v6.take(), self.v4.take()];
            for e in errors.into_iter().flatten().filter_map(Result::err) {
                if let Some(stop) = self.outcome.note(e) {
                    return self.fail(stop);
                }
            }
            if !self.next_candidate() {
                let outcome = std::mem::take(&mut self.outcome);
                return self.fail(outcome.finish());
            }
        }
    }

    fn fail(&mut self, e: Error) -> Found {
        self.aaaa = None;
        self.a = None;
        self.held_aaaa = None;
        self.settled = true;
        Found {
            v4: Some(Err(e)),
            v6: None,
            done: true,
        }
    }
}

/// The addresses of one family of one name.
fn family(resolver: &Resolver, name: Name, rtype: RecordType, deadline: Instant) -> Lookup<'_> {
    Box::pin(async move {
        let records = timeout_at(deadline, resolver.query(&name, rtype, deadline))
            .await
            .unwrap_or(Err(Error::Timeout))?;
        Ok(addresses(&records).collect())
    })
}
