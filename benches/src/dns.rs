//! DNS: A lookups per second and latency (p50, p99) against the in-process
//! authoritative server ([`crate::dns_server`]), with 1 and 64 lookups in
//! flight, for tern (cache off), hickory-resolver on tokio (cache off) and
//! c-ares (`c-ares` feature). Every lookup asks a name never asked before
//! (`host{N}.bench.test.`), so no cache can answer. If `dnsmasq` is
//! installed, the same runs go against a dnsmasq on 127.0.0.1 as well.
//!
//! glibc's getaddrinfo is measured too when the in-process server can have
//! port 53 (see [`crate::dns_glibc`]): it can only use the nameservers in
//! /etc/resolv.conf, on port 53.

use std::cell::RefCell;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::dns_server::DnsServer;
use crate::harness::{metric, run_interleaved, Case, Outcome, Rep, Summary};
use crate::report::{Better, Metric, Target};
use crate::rt::{Rt, Smol, Tokio};
use crate::Ctx;

const GROUP: &str = "dns";
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

static NEXT_NAME: AtomicU64 = AtomicU64::new(0);

fn next_name() -> String {
    format!(
        "host{}.bench.test.",
        NEXT_NAME.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs the group.
pub fn run(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    let mut out = Vec::new();
    if cfg!(not(feature = "c-ares")) {
        notes.push(
            "dns: c-ares not built: run with `--features c-ares` (needs libc-ares-dev >= 1.18)"
                .into(),
        );
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
    measure(ctx, server.addr(), "in-process server", true, &mut out);
    notes.push(format!(
        "dns: the in-process server answered {} queries",
        server.answered()
    ));
    drop(server);

    match Dnsmasq::start() {
        Ok(d) => {
            measure(ctx, d.addr, "dnsmasq", false, &mut out);
        }
        Err(why) => notes.push(format!("dns: dnsmasq runs skipped: {why}")),
    }
    out
}

/// 127.53.X.Y:53 with X and Y from the process id, so that concurrent
/// runs and other local servers on 127.0.0.1:53 do not collide.
fn port_53() -> SocketAddr {
    let pid = std::process::id();
    SocketAddr::from(([127, 53, (pid >> 8) as u8, pid as u8 | 1], 53))
}

fn measure(ctx: &Ctx, server: SocketAddr, label: &str, with_targets: bool, out: &mut Vec<Metric>) {
    for (inflight, count) in [(1, ctx.n(5_000, 30)), (64, ctx.n(30_000, 256))] {
        let mut cases = [
            Case::new("tern", move || tern_lookups(server, inflight, count)),
            Case::new("hickory", move || hickory_lookups(server, inflight, count)),
            Case::new("c-ares", move || cares_lookups(server, inflight, count)),
            Case::new("glibc", move || {
                crate::dns_glibc::glibc_lookups(server, inflight, count)
            }),
        ];
        let o: Vec<Outcome> = run_interleaved(ctx.reps, &mut cases);
        let rate = metric(
            GROUP,
            format!("A lookups, {inflight} in flight, {label} ({count} per rep)"),
            "lookups/s",
            Better::Higher,
            Summary::MedianOfReps,
            &o,
        );
        out.push(if with_targets {
            rate.target(Target::AtLeastColumn("c-ares"))
        } else {
            rate
        });
        for p in [50.0, 99.0] {
            out.push(metric(
                GROUP,
                format!("latency p{p}, {inflight} in flight, {label}"),
                "us",
                Better::Lower,
                Summary::PooledPercentile(p),
                &o,
            ));
        }
    }
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

fn tern_lookups(server: SocketAddr, inflight: usize, count: usize) -> Result<Rep, String> {
    crate::dns_tern::tern_lookups(server, inflight, count)
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

#[cfg(feature = "c-ares")]
fn cares_lookups(server: SocketAddr, inflight: usize, count: usize) -> Result<Rep, String> {
    use c_ares_resolver::{FutureResolver, Options};
    let mut opts = Options::new();
    opts.set_timeout(TIMEOUT).set_tries(2);
    let resolver = FutureResolver::with_options(opts).map_err(|e| format!("c-ares: {e}"))?;
    resolver
        .set_servers([server.to_string().as_str()])
        .map_err(|e| format!("c-ares servers: {e}"))?;
    let resolver = Rc::new(resolver);
    // c-ares does its I/O on its own event thread; smol's executor only
    // awaits the futures here.
    Smol::block_on(drive::<Smol, _, _>(inflight, count, move |name| {
        let r = resolver.clone();
        async move {
            r.query_a(&name)
                .await
                .map(|res| res.iter().count())
                .map_err(|e| format!("c-ares lookup {name}: {e}"))
        }
    }))
}

#[cfg(not(feature = "c-ares"))]
fn cares_lookups(_: SocketAddr, _: usize, _: usize) -> Result<Rep, String> {
    Smol::block_on(async {});
    Err("built without the `c-ares` feature".into())
}

/// A dnsmasq answering `bench.test` itself, on a free port of 127.0.0.1.
#[derive(Debug)]
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
}

impl Dnsmasq {
    /// Starts dnsmasq, trying a few ports: the free UDP port picked may be
    /// taken for TCP, which makes dnsmasq exit at once.
    fn start() -> Result<Dnsmasq, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match Dnsmasq::start_once() {
                Ok(d) => return Ok(d),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_once() -> Result<Dnsmasq, String> {
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new("dnsmasq")
            .args([
                "--no-resolv",
                "--no-hosts",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--address=/bench.test/192.0.2.1",
                "--keep-in-foreground",
                "--pid-file=",
                "--user=root",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("dnsmasq not available ({e})"))?;
        let mut d = Dnsmasq {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        // Wait until it answers (at most 3 s).
        let probe = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let query = [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'h', b'o', b's', b't', b'0', 5, b'b',
            b'e', b'n', b'c', b'h', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1,
        ];
        let mut buf = [0u8; 512];
        for _ in 0..30 {
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!("dnsmasq exited at start ({status})"));
            }
            let _ = probe.send_to(&query, d.addr);
            if probe.recv(&mut buf).is_ok() {
                return Ok(d);
            }
        }
        let _ = d.child.kill();
        Err("dnsmasq did not answer within 3 s".into())
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
