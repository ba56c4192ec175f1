//! `stress`: tern under load, faults and hostile input, at full size.
//!
//! ```text
//! cargo run --release -p tern-benches --bin stress -- [all|tcp|timers|tasks|dns|fuzz]... [--quick]
//! ```
//!
//! Each part checks what it claims (every byte echoed, every timer in
//! order, every lookup's outcome, no panic) and prints its figures as a
//! markdown table; the exit status is non-zero if any check failed. The
//! short versions of these runs are tests: `tests/reliability.rs` and
//! `dns/tests/reliability.rs`. Everything runs on loopback.

#[path = "../../../dns/tests/common/mod.rs"]
mod common;
#[path = "../cpuinfo.rs"]
mod cpuinfo;
#[path = "../stress/dns.rs"]
mod dns;
#[path = "../stress/fuzz.rs"]
mod fuzz;
#[path = "../stress/load.rs"]
mod load;
#[path = "../stress/tcp.rs"]
mod tcp;
#[path = "../../../tests/common/tcp_echo.rs"]
mod tcp_echo;

#[macro_use]
#[path = "../../../tests/common/forwarding_alloc.rs"]
mod forwarding_alloc;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// One line of the report.
#[derive(Debug)]
pub struct Row {
    /// Which part measured it.
    pub part: &'static str,
    /// What was measured.
    pub what: String,
    /// The figure.
    pub figure: String,
    /// Whether the check behind it held (`None`: a figure only).
    pub ok: Option<bool>,
}

impl Row {
    /// A figure with a verdict.
    pub fn check(
        part: &'static str,
        what: impl Into<String>,
        figure: impl ToString,
        ok: bool,
    ) -> Row {
        Row {
            part,
            what: what.into(),
            figure: figure.to_string(),
            ok: Some(ok),
        }
    }

    /// A figure without a verdict.
    pub fn info(part: &'static str, what: impl Into<String>, figure: impl ToString) -> Row {
        Row {
            part,
            what: what.into(),
            figure: figure.to_string(),
            ok: None,
        }
    }
}

/// Sizes for a full or a `--quick` run.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Tiny counts, for a smoke run.
    pub quick: bool,
}

impl Size {
    /// `full`, or `quick` in quick mode.
    pub fn n(self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

// ===== memory =====

/// The system allocator with a net-bytes counter, on while measuring.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static NET: AtomicIsize = AtomicIsize::new(0);

fn note(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        NET.fetch_add(delta, Ordering::Relaxed);
    }
}

forwarding_allocator!(Counting, note);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Net heap bytes allocated (all threads) while `f` ran, and its result.
pub fn net_heap<R>(f: impl FnOnce() -> R) -> (isize, R) {
    NET.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let r = f();
    COUNTING.store(false, Ordering::Relaxed);
    (NET.load(Ordering::Relaxed), r)
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Asks glibc's malloc to return free memory to the kernel, so RSS shows
/// what is still in use rather than what the allocator keeps cached.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has
    // no preconditions and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resets `VmHWM` to the current RSS, so the next peak is this part's.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Open fds of this process.
pub fn fds() -> usize {
    tern::sys::process::open_fd_count().unwrap_or(0)
}

// ===== main =====

const PARTS: &[&str] = &["tcp", "timers", "tasks", "dns", "fuzz"];

fn machine() -> String {
    let cpu = cpuinfo::cpu_model().unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(tcp::CHILD) {
        return tcp::child(&args[1..]);
    }
    let mut size = Size { quick: false };
    let mut parts: Vec<&'static str> = Vec::new();
    for a in &args {
        match a.as_str() {
            "--quick" => size.quick = true,
            "all" => parts.extend(PARTS),
            other => match PARTS.iter().find(|p| **p == other) {
                Some(p) => parts.push(p),
                None => {
                    eprintln!("usage: stress [all | {}]... [--quick]", PARTS.join(" | "));
                    return ExitCode::FAILURE;
                }
            },
        }
    }
    if parts.is_empty() {
        parts.extend(PARTS);
    }
    parts.dedup();
    let mut rows = Vec::new();
    for p in parts {
        eprintln!("== {p}");
        let started = std::time::Instant::now();
        reset_peak_rss();
        let part_rows = match p {
            "tcp" => tcp::run(size),
            "timers" => load::timers(size),
            "tasks" => load::tasks(size),
            "dns" => dns::run(size),
            _ => fuzz::run(size),
        };
        for r in &part_rows {
            eprintln!("   {}: {} {:?}", r.what, r.figure, r.ok);
        }
        rows.extend(part_rows);
        rows.push(Row::info(
            p,
            "wall time of the part",
            format!("{:.1} s", started.elapsed().as_secs_f64()),
        ));
    }
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "Stress run of {}{} ({build} build) on {}.\n",
        date(),
        if size.quick { ", quick sizes" } else { "" },
        machine()
    );
    println!("| part | measure | figure | check |");
    println!("|---|---|---|---|");
    for r in &rows {
        let verdict = match r.ok {
            Some(true) => "ok",
            Some(false) => "**FAILED**",
            None => "",
        };
        println!("| {} | {} | {} | {verdict} |", r.part, r.what, r.figure);
    }
    if rows.iter().any(|r| r.ok == Some(false)) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
