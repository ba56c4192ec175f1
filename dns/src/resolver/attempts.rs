//! One name and type through the cache, then the servers: the attempt
//! loop of the resolver. Servers are asked in
//! [`attempt_plan`](crate::exchange::attempt_plan) order with failed ones
//! moved last; each attempt gets the per-attempt timeout or
//! what is left of the lookup's deadline, whichever is less; what each
//! attempt teaches (health, EDNS, the server's cookie) goes into
//! `servers.rs`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;

use super::inflight::{Role, Waited};
use super::servers::next_client_cookie;
use super::transport::{ask, Failed, Limit, QueryEdns};
use super::{case, channel, vc, Resolver};
use crate::error::Error;
use crate::exchange::{negative_ttl, server_round, take_answer, AttemptPlan, Transport};
use crate::name::Name;
use crate::record::{Record, RecordType};

impl Resolver {
    /// One name and type: the cache, then the servers, until `deadline`.
    pub(crate) async fn query(
        &self,
        name: &Name,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Vec<Record>, Error> {
        let inner = &self.inner;
        {
            let mut cache = inner.cache.borrow_mut();
            if !cache.is_empty() {
                if let Some(hit) = cache.get(name, rtype, tern_runtime::time::now()) {
                    return hit;
                }
            }
        }
        // Identical lookups in flight share one query.
        let leader = loop {
            match inner.inflight.enter(name, rtype, deadline) {
                Role::Leader(leader) => break leader,
                Role::Follower(f) => match f.outcome().await {
                    Waited::Done(outcome) => return outcome,
                    Waited::Cancelled => {}
                    Waited::Stuck => break inner.inflight.alone(),
                },
            }
        };
        let (result, neg_ttl) = self.ask_servers(name, rtype, deadline).await;
        leader.finish(&result);
        let mut cache = inner.cache.borrow_mut();
        if cache.capacity() > 0 {
            cache.insert_result(
                name.clone(),
                rtype,
                &result,
                neg_ttl,
                tern_runtime::time::now(),
            );
        }
        drop(cache);
        result
    }

    async fn ask_servers(
        &self,
        name: &Name,
        rtype: RecordType,
        deadline: Instant,
    ) -> (Result<Vec<Record>, Error>, Option<u32>) {
        let inner = &self.inner;
        let config = self.config();
        let rotation = inner.rotation.get();
        inner.rotation.set(rotation.wrapping_add(1));
        // One clock read orders the servers and starts the first attempt.
        let t0 = tern_runtime::time::now();
        let plan = match config.nameservers[..] {
            // Nothing to order.
            [server] => AttemptPlan::one(server, config.attempts),
            _ => {
                let round = server_round(&config, rotation);
                let order = inner.servers.borrow().order(round, t0);
                AttemptPlan::new(order, config.attempts)
            }
        };
        let mut clock = Some(t0);
        if plan.is_empty() {
            return (Err(Error::NoNameservers), None);
        }
        let mut last = Error::Timeout;
        let mut answer = None;
        // Servers whose EDNS query timed out over UDP in this lookup (not
        // a TCP retry after a UDP reply, which proved EDNS gets through):
        // asked plain next.
        let mut plain_next: Vec<SocketAddr> = Vec::new();
        for server in plan {
            let started = clock.take().unwrap_or_else(tern_runtime::time::now);
            if deadline <= started {
                break;
            }
            // Each step of the exchange (UDP, then TCP or a retry) gets the
            // attempt timeout, and none goes past the lookup's deadline
            // (`Limit` takes the earlier of the two).
            let step = Limit {
                per_step: config.timeout,
                deadline,
                started,
            };
            let retrying_plain = plain_next.contains(&server);
            let edns = config
                .edns_payload()
                .filter(|_| !retrying_plain && inner.servers.borrow().edns_ok(server, started));
            let sent = if config.case_randomization {
                match case::randomize(name) {
                    Ok(sent) => Cow::Owned(sent),
                    Err(e) => {
                        last = e;
                        continue;
                    }
                }
            } else {
                Cow::Borrowed(name)
            };
            // Cookies go with EDNS over UDP only (as c-ares sends them).
            let mut cookie = None;
            if config.cookies && edns.is_some() && !config.use_vc {
                let made = inner
                    .servers
                    .borrow_mut()
                    .cookie(server, started, next_client_cookie);
                match made {
                    Ok(made) => cookie = Some(made),
                    Err(e) => {
                        last = e;
                        continue;
                    }
                }
            }
            // `edns_timed_out`: whether a timeout may mean the EDNS query
            // was dropped.
            let (result, edns_timed_out) = if config.use_vc {
                // Boxed: the TCP path is rare, and its future would make every
                // lookup's future larger.
                let result = Box::pin(vc::ask_tcp(server, &sent, rtype, edns, step))
                    .await
                    .map(Box::new);
                // Over TCP only, the EDNS query's own timeout is all there is.
                let timed_out = matches!(result, Err(Error::Timeout));
                (result, timed_out)
            } else {
                let max = config.udp_max_queries;
                let udp_edns = edns.map(|payload| QueryEdns {
                    payload,
                    cookie: cookie.as_mut(),
                });
                match ask(
                    server,
                    &sent,
                    rtype,
                    udp_edns,
                    step,
                    max,
                    config.case_randomization,
                )
                .await
                {
                    Ok(reply) => (Ok(reply), false),
                    Err(Failed { error, step: at }) => {
                        let timed_out = at == Transport::Udp && matches!(error, Error::Timeout);
                        (Err(error), timed_out)
                    }
                }
            };
            let result = match result {
                Ok(reply) if config.case_randomization => {
                    case::check_echo(&sent, &reply).map(|()| reply)
                }
                result => result,
            };
            let mut servers = inner.servers.borrow_mut();
            if let Some(cookie) = &cookie {
                servers.learned_cookie(server, cookie);
            }
            match result {
                Ok(reply) => {
                    // The round-trip time only orders servers, so with one
                    // server it is not measured (no clock read). On the
                    // runtime's clock, as `started` is (it stands still
                    // while paused).
                    let rtt = (config.nameservers.len() > 1)
                        .then(|| tern_runtime::time::now().saturating_duration_since(started));
                    servers.answered(server, rtt);
                    // An EDNS query answered without OPT (the server fell
                    // back or ignores EDNS), or a plain query answered after
                    // an EDNS one timed out over UDP: no EDNS for this server.
                    if (edns.is_some() && reply.edns.is_none()) || retrying_plain {
                        servers.refuses_edns(server, tern_runtime::time::now());
                    }
                    let negative = negative_ttl(name, &reply);
                    let reply = channel::unbox_reply(reply);
                    answer = Some((take_answer(name, rtype, reply), negative));
                    break;
                }
                Err(e) => {
                    // A timeout counts against the server only if it had the
                    // whole attempt timeout, not just what was left of the
                    // lookup's deadline.
                    let full_attempt = started
                        .checked_add(config.timeout)
                        .is_some_and(|end| end <= deadline);
                    let server_failed = match e {
                        Error::Timeout => full_attempt,
                        Error::Io(_) | Error::Refused => true,
                        _ => false,
                    };
                    if server_failed {
                        servers.failed(server, tern_runtime::time::now());
                    }
                    if edns.is_some() && edns_timed_out {
                        plain_next.push(server);
                    }
                    last = e;
                }
            }
        }
        answer.unwrap_or((Err(last), None))
    }
}
