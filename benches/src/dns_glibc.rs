//! The glibc column of the DNS group: `getaddrinfo` (IPv4 only, so one A
//! query per lookup) on a pool of `inflight` threads.
//!
//! glibc reads its nameservers only from `/etc/resolv.conf`, always on port
//! 53. The benchmark must not change that file, so the lookups run in a
//! child process (this binary, `__child dns-glibc`) with a private mount
//! namespace in which a temporary file naming the benchmark's server is
//! bind-mounted over `/etc/resolv.conf`; the real file and every other
//! process are untouched. That needs the server on port 53 of a loopback
//! address and the right to create a mount namespace (root, here); without
//! either the column is skipped and says why.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::dns::TIMEOUT;
use crate::dns_server::ANSWER;
use crate::harness::Rep;

/// Distinguishes the names of successive runs (never asked before).
static RUN: AtomicU64 = AtomicU64::new(0);

/// `count` lookups through glibc against `server`, `inflight` at a time.
pub fn glibc_lookups(server: SocketAddr, inflight: usize, count: usize) -> Result<Rep, String> {
    if server.port() != 53 || !server.ip().is_loopback() {
        return Err(format!(
            "glibc can only ask port 53; the server is on {server}"
        ));
    }
    let conf = std::env::temp_dir().join(format!("tern-bench-resolv-{}.conf", std::process::id()));
    std::fs::write(
        &conf,
        format!(
            "nameserver {}\noptions timeout:{} attempts:2\n",
            server.ip(),
            TIMEOUT.as_secs().max(1)
        ),
    )
    .map_err(|e| format!("{}: {e}", conf.display()))?;
    let res = run_child(&conf, inflight, count);
    let _ = std::fs::remove_file(&conf);
    res
}

fn run_child(conf: &std::path::Path, inflight: usize, count: usize) -> Result<Rep, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let source = CString::new(conf.as_os_str().as_encoded_bytes())
        .map_err(|e| format!("temporary path: {e}"))?;
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let mut cmd = Command::new(exe);
    cmd.args([
        "__child",
        "dns-glibc",
        &inflight.to_string(),
        &count.to_string(),
        &run.to_string(),
    ])
    .stdin(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe syscalls (unshare, mount) on data prepared
    // before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || private_resolv_conf(&source));
    }
    let out = cmd
        .output()
        .map_err(|e| format!("glibc child (private mount namespace): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "glibc child failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_child_output(&String::from_utf8_lossy(&out.stdout))
}

/// In the child: a private mount namespace with `source` mounted over
/// `/etc/resolv.conf`.
fn private_resolv_conf(source: &CStr) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: plain syscalls; every pointer is a valid NUL-terminated
    // string or null where the call allows it.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        // Keep our mounts from propagating back to the parent namespace.
        check(libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            source.as_ptr(),
            c"/etc/resolv.conf".as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ))
    }
}

/// Reads the child's report: `rate R` then `samples S S S ...`.
fn parse_child_output(text: &str) -> Result<Rep, String> {
    let mut value = None;
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("rate ") {
            value = r.trim().parse::<f64>().ok();
        } else if let Some(s) = line.strip_prefix("samples ") {
            samples = s
                .split_whitespace()
                .map(|x| x.parse::<f64>().map_err(|e| format!("bad sample {x}: {e}")))
                .collect::<Result<_, _>>()?;
        }
    }
    match value {
        Some(value) => Ok(Rep { value, samples }),
        None => Err(format!("glibc child printed no rate: {text}")),
    }
}

/// The child side: `count` lookups on `inflight` threads, then the report
/// on stdout. Runs inside the private mount namespace.
pub fn child(args: &[String]) -> Result<(), String> {
    let num = |i: usize| -> Result<usize, String> {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad dns-glibc child arguments {args:?}"))
    };
    let (inflight, count, run) = (num(0)?, num(1)?, num(2)?);
    let next = AtomicUsize::new(0);
    let samples = Mutex::new(Vec::with_capacity(count));
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..inflight.max(1))
            .map(|_| {
                s.spawn(|| -> Result<(), String> {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let name = format!("glibc{run}-host{i}.bench.test.");
                        let t = Instant::now();
                        let addrs = getaddrinfo_v4(&name)?;
                        mine.push(t.elapsed().as_secs_f64() * 1e6);
                        if addrs != [ANSWER] {
                            return Err(format!("{name}: expected [{ANSWER}], got {addrs:?}"));
                        }
                    }
                    samples
                        .lock()
                        .map_err(|_| "poisoned".to_string())?
                        .extend(mine);
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| "worker panicked".to_string())?)
    })?;
    let secs = start.elapsed().as_secs_f64();
    let samples = samples.into_inner().map_err(|_| "poisoned".to_string())?;
    println!("rate {}", samples.len() as f64 / secs);
    let text: Vec<String> = samples.iter().map(|s| format!("{s:.2}")).collect();
    println!("samples {}", text.join(" "));
    Ok(())
}

/// The IPv4 addresses glibc's `getaddrinfo` finds for `name`.
fn getaddrinfo_v4(name: &str) -> Result<Vec<Ipv4Addr>, String> {
    let cname = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: an all-zero addrinfo is the documented empty hints value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_INET;
    hints.ai_socktype = libc::SOCK_DGRAM;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated name, valid hints, and an out pointer
    // that getaddrinfo fills on success.
    let rc = unsafe { libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if rc != 0 {
        // SAFETY: gai_strerror returns a static NUL-terminated string.
        let why = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) };
        return Err(format!("getaddrinfo {name}: {}", why.to_string_lossy()));
    }
    let mut addrs = Vec::new();
    let mut at = list;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list getaddrinfo returned, not yet
        // freed; with AF_INET its ai_addr is a sockaddr_in.
        unsafe {
            let ai = &*at;
            if ai.ai_family == libc::AF_INET && !ai.ai_addr.is_null() {
                let sin = &*(ai.ai_addr as *const libc::sockaddr_in);
                addrs.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            at = ai.ai_next;
        }
    }
    // SAFETY: the list getaddrinfo returned, freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_child_report() {
        let rep = parse_child_output("rate 1234.5\nsamples 10.00 20.50\n").unwrap();
        assert_eq!(rep.value, 1234.5);
        assert_eq!(rep.samples, vec![10.0, 20.5]);
        assert!(parse_child_output("nothing\n").is_err());
        assert!(parse_child_output("rate 1\nsamples x\n").is_err());
    }
}
