//! tern-benches: comparisons of tern with tokio (current_thread), smol,
//! blocking std sockets, hickory-resolver and c-ares.
//!
//! `cargo run --release -p tern-benches -- all` runs every group;
//! `-- tasks` (or `cross-thread`, `timers`, `udp`, `udp-recv`, `tcp`,
//! `thread-per-core`, `dns`, `footprint`) runs one; `--quick` (or `TERN_BENCH_QUICK=1`) uses tiny
//! iteration counts; `--reps N` sets the repetitions (default 5);
//! `--json PATH` moves the JSON output from `target/bench.json`.
//! See `benches/README.md`.

mod alloc;
mod cpuinfo;
mod cross;
mod dns;
mod dns_cares;
mod dns_floor;
mod dns_glibc;
mod dns_nsd;
mod dns_server;
mod dns_tern;
mod footprint;
mod harness;
mod net;
mod report;
mod rot13_mt;
mod rt;
mod signal;
mod sync;
mod tasks;
mod tcp;
mod timers;
mod udp;
mod udp_recv;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use report::Report;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Settings shared by every group.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Tiny iteration counts.
    pub quick: bool,
    /// Measured repetitions per runtime (after one warm-up).
    pub reps: usize,
}

impl Ctx {
    /// `full`, or `quick` in quick mode.
    pub fn n(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// Group names, in the order `all` runs them.
const GROUPS: &[&str] = &[
    "tasks",
    "cross-thread",
    "timers",
    "udp",
    "udp-recv",
    "tcp",
    "thread-per-core",
    "dns",
    "footprint",
    "sync",
];

fn usage() -> String {
    format!(
        "usage: tern-benches [all | {}]... [--quick] [--reps N] [--json PATH]",
        GROUPS.join(" | ")
    )
}

fn run_group(name: &'static str, ctx: &Ctx, report: &mut Report) {
    eprintln!("== {name}");
    let metrics = match name {
        "tasks" => tasks::run(ctx),
        "cross-thread" => cross::run(ctx),
        "timers" => timers::run(ctx),
        "udp" => udp::run(ctx, &mut report.notes),
        "udp-recv" => udp_recv::run(ctx, &mut report.notes),
        "tcp" => tcp::run(ctx, &mut report.notes),
        "thread-per-core" => rot13_mt::run(ctx, &mut report.notes),
        "dns" => dns::run(ctx, &mut report.notes),
        "footprint" => footprint::run(ctx, &mut report.notes),
        "sync" => sync::run(ctx),
        other => unreachable!("{other} is not in GROUPS"),
    };
    for m in &metrics {
        eprintln!("   {}: tern {:?}", m.name, m.value("tern"));
    }
    report.metrics.extend(metrics);
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn cpu_model() -> String {
    cpuinfo::cpu_model().unwrap_or_else(|| "unknown".into())
}

fn default_json_path() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("target/bench.json")
}

/// `__child GROUP COLUMN N`: one run for a parent measuring it from
/// outside (strace; `__child dns COLUMN SERVER INFLIGHT N` for DNS);
/// `__child tasks OP COLUMN N` for a task row; `__child udp-burst COLUMN N`
/// for the queued burst; `__child tcp-bulk COLUMN MIB` for one bulk transfer;
/// `__child dns-glibc INFLIGHT COUNT RUN`: glibc lookups
/// in the private mount namespace the parent set up.
fn child(args: &[String]) -> ExitCode {
    let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    let res = match (args.first().map(String::as_str), args.get(1)) {
        (Some("udp"), Some(col)) => udp::child(col, n),
        (Some("udp-burst"), Some(col)) => udp_recv::child(col, n),
        (Some("tcp-bulk"), Some(col)) => tcp::child(col, n),
        (Some("dns-glibc"), _) => dns_glibc::child(&args[1..]),
        (Some("rot13-tokio"), _) => rot13_mt::child(&args[1..]),
        (Some("dns"), _) => dns::child(&args[1..]),
        (Some("tasks"), _) => tasks::child(&args[1..]),
        _ => Err(format!("bad child arguments {args:?}")),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("__child") {
        return child(&argv[1..]);
    }
    let mut args = argv.into_iter();
    let mut groups: Vec<&'static str> = Vec::new();
    let mut quick = std::env::var("TERN_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut reps = 5;
    let mut json = default_json_path();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--reps" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n >= 1 => reps = n,
                _ => {
                    eprintln!("--reps needs a positive number\n{}", usage());
                    return ExitCode::FAILURE;
                }
            },
            "--json" => match args.next() {
                Some(p) => json = PathBuf::from(p),
                None => {
                    eprintln!("--json needs a path\n{}", usage());
                    return ExitCode::FAILURE;
                }
            },
            "all" => groups.extend(GROUPS),
            "cross" => groups.push("cross-thread"),
            "-h" | "--help" => {
                println!("{}", usage());
                return ExitCode::SUCCESS;
            }
            other => match GROUPS.iter().find(|g| **g == other) {
                Some(g) => groups.push(g),
                None => {
                    eprintln!("unknown argument {other:?}\n{}", usage());
                    return ExitCode::FAILURE;
                }
            },
        }
    }
    if groups.is_empty() {
        groups.extend(GROUPS);
    }
    groups.dedup();

    let ctx = Ctx { quick, reps };
    let mut report = Report {
        quick,
        reps,
        ..Report::default()
    };
    report.header = vec![
        (
            "date".into(),
            command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default(),
        ),
        (
            "kernel".into(),
            command_output("uname", &["-r"]).unwrap_or_default(),
        ),
        ("cpu".into(), cpu_model()),
        (
            "cores".into(),
            std::thread::available_parallelism().map_or("?".into(), |n| n.to_string()),
        ),
        (
            "build".into(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
        ),
    ];
    for g in &groups {
        report.groups.push(g);
        run_group(g, &ctx, &mut report);
    }
    println!("{}", report.markdown());
    if let Some(dir) = json.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&json, report.json()) {
        Ok(()) => eprintln!("JSON written to {}", json.display()),
        Err(e) => {
            eprintln!("cannot write {}: {e}", json.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
