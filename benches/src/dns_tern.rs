//! The tern client of the DNS group: `tern::dns::Resolver` with the cache
//! off, the hosts file off, no search list, and the given
//! `udp_max_queries`.

use std::net::SocketAddr;
use std::rc::Rc;

use crate::dns::{drive, TIMEOUT};
use crate::harness::Rep;
use crate::rt::{Rt, Tern};

/// `count` A lookups with tern, `inflight` at a time, cache off.
pub fn tern_lookups(
    server: SocketAddr,
    inflight: usize,
    count: usize,
    udp_max_queries: u32,
) -> Result<Rep, String> {
    use tern::dns::{Config, RecordType, Resolver};
    Tern::block_on(async move {
        let mut cfg = Config::default();
        cfg.nameservers = vec![server];
        cfg.search = Vec::new();
        cfg.cache_size = 0;
        cfg.use_hosts = false;
        cfg.timeout = TIMEOUT;
        cfg.attempts = 2;
        cfg.udp_max_queries = udp_max_queries;
        let resolver = Rc::new(Resolver::new(cfg));
        let before = tern::current_metrics();
        let rep = drive::<Tern, _, _>(inflight, count, move |name| {
            let r = resolver.clone();
            async move {
                r.lookup(&name, RecordType::A)
                    .await
                    .map(|v| v.len())
                    .map_err(|e| format!("tern lookup {name}: {e}"))
            }
        })
        .await;
        // For a profiler's run (`__child dns`): what a lookup cost the
        // executor.
        if let (Some(a), Some(b)) = (before, tern::current_metrics()) {
            if std::env::var_os("TERN_BENCH_PRINT").is_some() {
                let per = |n: u64| n as f64 / count.max(1) as f64;
                eprintln!(
                    "tern: {:.2} polls and {:.2} reactor turns per lookup",
                    per(b.polls - a.polls),
                    per(b.reactor_turns - a.reactor_turns)
                );
            }
        }
        rep
    })
}
