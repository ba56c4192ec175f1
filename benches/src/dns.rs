//! DNS: A lookups per second, latency (p50, p99), CPU time and syscalls
//! per lookup, with 1 and 64 lookups in flight, against two servers: nsd
//! (started on 127.0.0.1, see [`crate::dns_nsd`]) and the in-process
//! authoritative server ([`crate::dns_server`]). Columns: tern (cache off;
//! the default `udp_max_queries = 1`, a fresh source port per query, and
//! `udp_max_queries = 0`, sockets reused as c-ares does), c-ares driven
//! from C in the benchmark's thread ([`crate::dns_cares`]),
//! hickory-resolver on tokio (cache off) and glibc's getaddrinfo (in-process
//! server only, see [`crate::dns_glibc`]).
//!
//! Every lookup asks a name never asked before (`host{N}.bench.test.`), so
//! no cache can answer and no two lookups in flight are identical: tern's
//! sharing of identical queries in flight never applies here.
//!
//! CPU per lookup is the process's CPU time (user + system, every thread,
//! including children such as glibc's) over the run, minus the in-process
//! server thread's, divided by the lookups. Syscalls per lookup are counted
//! by `perf stat -e raw_syscalls:sys_enter` (or, without perf, `strace -c
//! -f`) of a child re-exec of this binary asking the same server (`__child
//! dns COLUMN SERVER INFLIGHT COUNT`), less a run of 0 lookups.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::dns_server::DnsServer;
use crate::harness::{median, metric, run_interleaved, Case, Outcome, Rep, Summary};
use crate::report::{Better, Metric, Reading, Target};
use crate::rt::{Rt, Tokio};
use crate::Ctx;

const GROUP: &str = "dns";
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

static NEXT_NAME: AtomicU64 = AtomicU64::new(0);

/// `host<n>.bench.test.` for a fresh `n`, built as the C driver's
/// `snprintf` does (digits written by hand, one allocation), so the Rust
/// columns pay no more than c-ares for naming their lookups.
fn next_name() -> String {
    let mut n = take_names(1);
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut name = String::with_capacity(32);
    name.push_str("host");
    name.extend(digits[at..].iter().map(|&d| char::from(d)));
    name.push_str(".bench.test.");
    name
}

/// Reserves `n` fresh name numbers; returns the first.
pub(crate) fn take_names(n: usize) -> u64 {
    NEXT_NAME.fetch_add(n as u64, Ordering::Relaxed)
}

/// Which lookups a column makes.
#[derive(Clone, Copy, Debug)]
enum Client {
    Tern { udp_max_queries: u32 },
    Cares,
    Hickory,
    Glibc,
    Floor { fresh: bool },
}

const CLIENTS: [(&str, Client); 7] = [
    ("tern", Client::Tern { udp_max_queries: 1 }),
    ("tern-reuse", Client::Tern { udp_max_queries: 0 }),
    ("c-ares", Client::Cares),
    ("hickory", Client::Hickory),
    ("glibc", Client::Glibc),
    ("floor-fresh", Client::Floor { fresh: true }),
    ("floor-reuse", Client::Floor { fresh: false }),
];

impl Client {
    fn lookups(self, server: SocketAddr, inflight: usize, count: usize) -> Result<Rep, String> {
        match self {
            Client::Tern { udp_max_queries } => {
                crate::dns_tern::tern_lookups(server, inflight, count, udp_max_queries)
            }
            Client::Cares => crate::dns_cares::cares_lookups(server, inflight, count),
            Client::Hickory => hickory_lookups(server, inflight, count),
            Client::Glibc => crate::dns_glibc::glibc_lookups(server, inflight, count),
            Client::Floor { fresh } => {
                crate::dns_floor::floor_lookups(server, inflight, count, fresh)
            }
        }
    }
}

/// Runs the group.
pub fn run(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    let mut out = Vec::new();
    notes.push(
        "dns: every lookup asks a new name (no repeats), so no cache and no sharing of \
         identical queries in flight applies; tern and c-ares send EDNS (payload 1232)"
            .into(),
    );
    match crate::dns_nsd::Nsd::start() {
        Ok(nsd) => measure(ctx, nsd.addr(), None, "nsd", &mut out, notes),
        Err(why) => notes.push(format!("dns: nsd runs skipped: {why}")),
    }
    // On port 53 if it can be had, so that glibc can be asked too.
    let server = match DnsServer::start_on(port_53()) {
        Ok(s) => s,
        Err(e53) => match DnsServer::start() {
            Ok(s) => {
                notes.push(format!(
                    "dns: the in-process server could not bind port 53 ({e53}), so glibc is left out"
                ));
                s
            }
            Err(e) => {
                notes.push(format!("dns: cannot start the in-process server: {e}"));
                return out;
            }
        },
    };
    measure(
        ctx,
        server.addr(),
        Some(server.tid()),
        "in-process server",
        &mut out,
        notes,
    );
    notes.push(format!(
        "dns: the in-process server answered {} queries",
        server.answered()
    ));
    out
}

/// 127.53.X.Y:53 with X and Y from the process id, so that concurrent
/// runs and other local servers on 127.0.0.1:53 do not collide.
fn port_53() -> SocketAddr {
    let pid = std::process::id();
    SocketAddr::from(([127, 53, (pid >> 8) as u8, pid as u8 | 1], 53))
}

fn measure(
    ctx: &Ctx,
    server: SocketAddr,
    server_tid: Option<i32>,
    label: &str,
    out: &mut Vec<Metric>,
    notes: &mut Vec<String>,
) {
    let targets = label == "nsd";
    for (inflight, count) in [(1, ctx.n(5_000, 30)), (64, ctx.n(30_000, 256))] {
        let cpu: Vec<RefCell<Vec<f64>>> = CLIENTS.iter().map(|_| RefCell::default()).collect();
        let mut cases: Vec<Case<'_>> = CLIENTS
            .iter()
            .zip(&cpu)
            .map(|(&(col, client), cpu)| {
                Case::new(col, move || {
                    let before = cpu_ns(server_tid);
                    let rep = client.lookups(server, inflight, count)?;
                    let used = cpu_ns(server_tid).saturating_sub(before);
                    cpu.borrow_mut().push(used as f64 / 1e3 / count as f64);
                    Ok(rep)
                })
            })
            .collect();
        let o: Vec<Outcome> = run_interleaved(ctx.reps, &mut cases);
        drop(cases);
        let rate = metric(
            GROUP,
            format!("A lookups, {inflight} in flight, {label} ({count} per rep)"),
            "lookups/s",
            Better::Higher,
            Summary::MedianOfReps,
            &o,
        );
        out.push(match (targets, inflight) {
            (false, _) => rate,
            (true, 1) => rate.target(Target::AtLeastColumn("c-ares")),
            (true, _) => rate.target(Target::AtLeastRatioOf("c-ares", 0.8)),
        });
        if targets && inflight > 1 {
            // The same run, tern's column being udp_max_queries = 0.
            let mut reuse = metric(
                GROUP,
                format!("A lookups, {inflight} in flight, {label}, tern with udp_max_queries = 0"),
                "lookups/s",
                Better::Higher,
                Summary::MedianOfReps,
                &o,
            );
            reuse
                .cells
                .retain(|(c, _)| matches!(*c, "tern-reuse" | "c-ares" | "floor-reuse"));
            for (c, _) in &mut reuse.cells {
                if *c == "tern-reuse" {
                    *c = "tern";
                }
            }
            out.push(reuse.target(Target::AtLeastColumn("c-ares")));
        }
        for p in [50.0, 99.0] {
            let m = metric(
                GROUP,
                format!("latency p{p}, {inflight} in flight, {label}"),
                "us",
                Better::Lower,
                Summary::PooledPercentile(p),
                &o,
            );
            out.push(if targets && inflight == 1 && p == 50.0 {
                m.target(Target::RatioTo("c-ares", 1.0))
            } else {
                m
            });
        }
        let mut m = Metric::new(
            GROUP,
            format!("CPU per lookup, {inflight} in flight, {label}"),
            "us",
            Better::Lower,
        );
        for ((col, _), ((_, res), cpu)) in CLIENTS.iter().zip(o.iter().zip(&cpu)) {
            let cell = match res {
                Ok(_) => {
                    // The first value is the warm-up's.
                    let reps: Vec<f64> = cpu.borrow().iter().skip(1).copied().collect();
                    Reading::Value {
                        value: median(&reps),
                        reps,
                    }
                }
                Err(e) => Reading::Skipped(e.clone()),
            };
            m.set(col, cell);
        }
        out.push(if targets && inflight == 1 {
            m.target(Target::RatioTo("c-ares", 1.0))
        } else {
            m
        });
        out.push(syscalls(ctx, server, inflight, label, &o, notes));
    }
}

/// CPU time of this process and its waited-for children, in ns, less the
/// thread `exclude`'s (the in-process server).
fn cpu_ns(exclude: Option<i32>) -> u64 {
    let usage = |who| {
        // SAFETY: getrusage writes one rusage into the zeroed value we own.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `who` is RUSAGE_SELF or RUSAGE_CHILDREN.
        if unsafe { libc::getrusage(who, &mut ru) } != 0 {
            return 0;
        }
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        (us(ru.ru_utime) + us(ru.ru_stime)) * 1000
    };
    let total = usage(libc::RUSAGE_SELF) + usage(libc::RUSAGE_CHILDREN);
    let excluded = exclude.map_or(0, |tid| {
        // The first field of schedstat: time on a CPU, in ns.
        std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    });
    total.saturating_sub(excluded)
}

/// How syscalls are counted: `perf stat -e raw_syscalls:sys_enter` (exact,
/// and barely slows the child), else `strace -c -f` (which slows every
/// syscall, and so lets c-ares find more replies already queued than it
/// would at full speed).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Counter {
    Perf,
    Strace,
}

impl Counter {
    fn find() -> Result<Counter, String> {
        let perf = Command::new("perf")
            .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"])
            .output();
        match perf {
            Ok(o) if o.status.success() => return Ok(Counter::Perf),
            _ => {}
        }
        crate::udp::strace_available().map(|()| Counter::Strace)
    }

    fn name(self) -> &'static str {
        match self {
            Counter::Perf => "perf stat",
            Counter::Strace => "strace -c -f",
        }
    }

    /// Total syscalls of one child run of `count` lookups.
    fn count(
        self,
        col: &str,
        server: SocketAddr,
        inflight: usize,
        count: usize,
    ) -> Result<u64, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let out_file = std::env::temp_dir().join(format!(
            "tern-bench-syscalls-dns-{}-{col}-{count}",
            std::process::id()
        ));
        let mut cmd = match self {
            Counter::Perf => {
                let mut c = Command::new("perf");
                c.args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-o"]);
                c
            }
            Counter::Strace => {
                let mut c = Command::new("strace");
                c.args(["-c", "-f", "-o"]);
                c
            }
        };
        let status = cmd
            .arg(&out_file)
            .arg(&exe)
            .args(["__child", "dns", col, &server.to_string()])
            .args([inflight.to_string(), count.to_string()])
            .status()
            .map_err(|e| format!("{}: {e}", self.name()))?;
        let text =
            std::fs::read_to_string(&out_file).map_err(|e| format!("{} output: {e}", self.name()));
        let _ = std::fs::remove_file(&out_file);
        let text = text?;
        if !status.success() {
            return Err(format!("child under {} failed ({status})", self.name()));
        }
        match self {
            Counter::Perf => parse_perf_count(&text),
            Counter::Strace => crate::udp::parse_strace_total(&text),
        }
        .ok_or_else(|| format!("no syscall total in {} output", self.name()))
    }
}

/// The count of the `raw_syscalls:sys_enter` line of `perf stat -x,`.
fn parse_perf_count(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.contains("raw_syscalls:sys_enter"))?;
    line.split(',').next()?.trim().parse().ok()
}

/// The syscalls-per-lookup row: each column's child run, counted from
/// outside, less a run of 0 lookups.
fn syscalls(
    ctx: &Ctx,
    server: SocketAddr,
    inflight: usize,
    label: &str,
    outcomes: &[Outcome],
    notes: &mut Vec<String>,
) -> Metric {
    let n = ctx.n(5_000, 64);
    let counter = Counter::find();
    let how = counter.as_ref().map_or("not counted", |c| c.name());
    let mut m = Metric::new(
        GROUP,
        format!("syscalls per lookup, {inflight} in flight, {label} ({how}, {n} lookups)"),
        "syscalls",
        Better::Lower,
    );
    for ((col, _), (_, res)) in CLIENTS.iter().zip(outcomes) {
        let cell = match (res, &counter, *col) {
            (Err(e), _, _) => Reading::Skipped(e.clone()),
            (_, Err(why), _) => Reading::Skipped(why.clone()),
            (_, _, "glibc") => Reading::Skipped("runs in its own child; not counted".into()),
            (_, Ok(counter), _) => {
                let per_lookup = counter.count(col, server, inflight, 0).and_then(|base| {
                    let full = counter.count(col, server, inflight, n)?;
                    Ok(full.saturating_sub(base) as f64 / n as f64)
                });
                match per_lookup {
                    Ok(v) => Reading::Value {
                        value: v,
                        reps: vec![v],
                    },
                    Err(e) => {
                        notes.push(format!("dns: syscalls of {col}: {e}"));
                        Reading::Skipped(e)
                    }
                }
            }
        };
        m.set(col, cell);
    }
    m
}

/// `__child dns COLUMN SERVER INFLIGHT COUNT`: `COUNT` lookups, for strace.
pub fn child(args: &[String]) -> Result<(), String> {
    let [col, server, inflight, count] = args else {
        return Err(format!("dns child: bad arguments {args:?}"));
    };
    let server: SocketAddr = server.parse().map_err(|e| format!("{server}: {e}"))?;
    let inflight: usize = inflight.parse().map_err(|e| format!("{inflight}: {e}"))?;
    let count: usize = count.parse().map_err(|e| format!("{count}: {e}"))?;
    let client = CLIENTS
        .iter()
        .find(|(c, _)| c == col)
        .map(|&(_, client)| client)
        .ok_or_else(|| format!("dns child: unknown column {col}"))?;
    let rep = client.lookups(server, inflight, count)?;
    if std::env::var_os("TERN_BENCH_PRINT").is_some() {
        let mut s = rep.samples.clone();
        s.sort_by(f64::total_cmp);
        let at = |q: f64| s.get(((s.len() as f64 * q) as usize).min(s.len().saturating_sub(1)));
        eprintln!(
            "{col}: {:.0} lookups/s, p50 {:?} p90 {:?} p99 {:?} p99.9 {:?} max {:?} us",
            rep.value,
            at(0.5),
            at(0.9),
            at(0.99),
            at(0.999),
            s.last()
        );
    }
    Ok(())
}

/// Runs `count` lookups, `inflight` at a time, on runtime `R`; the value
/// is lookups per second, the samples are latencies in microseconds.
pub(crate) async fn drive<R, F, Fut>(
    inflight: usize,
    count: usize,
    lookup: F,
) -> Result<Rep, String>
where
    R: Rt,
    F: Fn(String) -> Fut + Clone + 'static,
    Fut: Future<Output = Result<usize, String>> + 'static,
{
    let left = Rc::new(std::cell::Cell::new(count));
    let samples = Rc::new(RefCell::new(Vec::with_capacity(count)));
    let start = Instant::now();
    let workers: Vec<_> = (0..inflight)
        .map(|_| {
            let (left, samples, lookup) = (left.clone(), samples.clone(), lookup.clone());
            R::spawn(async move {
                while left.get() > 0 {
                    left.set(left.get() - 1);
                    let t = Instant::now();
                    let answers = lookup(next_name()).await?;
                    samples.borrow_mut().push(t.elapsed().as_secs_f64() * 1e6);
                    if answers != 1 {
                        return Err(format!("expected 1 answer, got {answers}"));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let samples = samples.take();
    Ok(Rep {
        value: samples.len() as f64 / secs,
        samples,
    })
}

fn hickory_lookups(server: SocketAddr, inflight: usize, count: usize) -> Result<Rep, String> {
    use hickory_resolver::config::{
        ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
        ResolverOpts,
    };
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    use hickory_resolver::Resolver;
    Tokio::block_on(async move {
        let mut conn = ConnectionConfig::udp();
        conn.port = server.port();
        let ns = NameServerConfig::new(server.ip(), true, vec![conn]);
        let config = ResolverConfig::from_parts(None, Vec::new(), vec![ns]);
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ip_strategy = LookupIpStrategy::Ipv4Only;
        opts.timeout = TIMEOUT;
        opts.attempts = 2;
        opts.max_active_requests = 1024;
        let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| format!("hickory: {e}"))?;
        drive::<Tokio, _, _>(inflight, count, move |name| {
            let r = resolver.clone();
            async move {
                r.ipv4_lookup(name.as_str())
                    .await
                    .map(|l| l.answers().len())
                    .map_err(|e| format!("hickory lookup {name}: {e}"))
            }
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_perf_count() {
        let text = "# started on Tue Dec  1 13:01:44 2026\n\n\
                    30417,,raw_syscalls:sys_enter,51475518,100.00,590.902,K/sec\n";
        assert_eq!(super::parse_perf_count(text), Some(30417));
        assert_eq!(super::parse_perf_count("<not counted>,,cycles\n"), None);
    }

    #[test]
    fn names_are_numbered_in_decimal() {
        let first = super::take_names(0);
        let name = super::next_name();
        assert_eq!(name, format!("host{first}.bench.test."));
        super::NEXT_NAME.store(u64::MAX, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(super::next_name(), format!("host{}.bench.test.", u64::MAX));
        assert_eq!(super::next_name(), "host0.bench.test.");
    }
}
