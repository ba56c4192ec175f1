//! Footprint: stripped release binary size and dependency count of tern's
//! `resolve` example against a tokio + hickory-resolver program that does
//! the same (`src/bin/tokio_hickory_resolve.rs`).
//!
//! Sizes need release builds of both, made with `cargo build --release`
//! into the target directory this binary runs from. Clean build times are
//! taken from two throw-away packages in a temporary directory, one per
//! program, each holding only that program and its dependencies (tern by
//! path; tokio and hickory-resolver with the versions and features of this
//! crate's manifest, pinned by the workspace's `Cargo.lock`), built with
//! `cargo build --release --offline` into a fresh target directory each
//! time, interleaved, median of the repetitions. `--quick` skips the builds
//! and counts dependencies only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::harness::{metric, run_interleaved, Case, Rep, Summary};
use crate::report::{Better, Metric, Reading};
use crate::Ctx;

const GROUP: &str = "footprint";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace());
    c
}

/// The target directory this binary was built in.
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

/// Runs the group.
pub fn run(ctx: &Ctx, notes: &mut Vec<String>) -> Vec<Metric> {
    let mut out = Vec::new();

    let mut deps = Metric::new(
        GROUP,
        "dependency crates (cargo tree -e normal,build, unique)",
        "crates",
        Better::Lower,
    );
    deps.set("tern", count_deps(&["-p", "tern"]));
    deps.set(
        "tokio-hickory",
        count_deps(&["-p", "tokio", "-p", "hickory-resolver"]),
    );
    out.push(deps);

    let mut size = Metric::new(
        GROUP,
        "stripped release binary, resolve program",
        "KiB",
        Better::Lower,
    );
    if ctx.quick {
        let why = "not built in --quick mode".to_string();
        size.set("tern", Reading::Skipped(why.clone()));
        size.set("tokio-hickory", Reading::Skipped(why));
    } else {
        match target_dir() {
            Some(dir) => {
                size.set(
                    "tern",
                    stripped_size(
                        &dir,
                        &["-p", "tern", "--example", "resolve"],
                        "release/examples/resolve",
                    ),
                );
                size.set(
                    "tokio-hickory",
                    stripped_size(
                        &dir,
                        &["-p", "tern-benches", "--bin", "tokio-hickory-resolve"],
                        "release/tokio-hickory-resolve",
                    ),
                );
            }
            None => {
                size.set(
                    "tern",
                    Reading::Skipped("cannot find the target directory".into()),
                );
            }
        }
    }
    out.push(size);

    let name = "clean release build, resolve program";
    if ctx.quick {
        let mut m = Metric::new(GROUP, name, "s", Better::Lower);
        let why = "not built in --quick mode".to_string();
        m.set("tern", Reading::Skipped(why.clone()));
        m.set("tokio-hickory", Reading::Skipped(why));
        out.push(m);
    } else {
        let mut cases = [
            Case::new("tern", || {
                clean_build("tern", &tern_manifest(), "examples/resolve.rs")
            }),
            Case::new("tokio-hickory", || {
                let deps = tokio_hickory_deps()?;
                clean_build(
                    "tokio-hickory",
                    &deps,
                    "benches/src/bin/tokio_hickory_resolve.rs",
                )
            }),
        ];
        let o = run_interleaved(ctx.reps, &mut cases);
        out.push(metric(
            GROUP,
            name,
            "s",
            Better::Lower,
            Summary::MedianOfReps,
            &o,
        ));
        notes.push(format!(
            "footprint: clean build = `cargo build --release --offline` of a package holding only the program, fresh target directory, {} jobs",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ));
    }
    out
}

/// The `[dependencies]` of the tern program: tern itself, by path.
fn tern_manifest() -> String {
    format!(
        "tern = {{ path = {:?} }}\n",
        workspace().display().to_string()
    )
}

/// The `[dependencies]` of the tokio + hickory program: this crate's own
/// lines for them, so versions and features stay the same.
fn tokio_hickory_deps() -> Result<String, String> {
    let manifest = workspace().join("benches/Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tokio =") || l.starts_with("hickory-resolver ="))
        .collect();
    if lines.len() != 2 {
        return Err(format!(
            "{}: expected one `tokio =` and one `hickory-resolver =` line",
            manifest.display()
        ));
    }
    Ok(lines.join("\n") + "\n")
}

/// Times a clean release build of a package made of `main` (a path in the
/// workspace) and `deps`, in a new temporary directory removed afterwards.
fn clean_build(label: &str, deps: &str, main: &str) -> Result<Rep, String> {
    let dir = std::env::temp_dir().join(format!("tern-bench-build-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let res = build_in(&dir, deps, main);
    let _ = std::fs::remove_dir_all(&dir);
    res
}

fn build_in(dir: &Path, deps: &str, main: &str) -> Result<Rep, String> {
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir.join("src")).map_err(io)?;
    let manifest = format!(
        "[package]\nname = \"footprint-build\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\n{deps}\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).map_err(io)?;
    std::fs::copy(workspace().join(main), dir.join("src/main.rs")).map_err(io)?;
    // The workspace's lock file pins the same versions; cargo drops the
    // packages this one does not use.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).map_err(io)?;
    eprintln!("   clean build of {main}");
    let start = Instant::now();
    let out = cargo()
        .current_dir(dir)
        .args(["build", "--release", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "clean build of {main} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(Rep::value(secs))
}

fn count_deps(pkgs: &[&str]) -> Reading {
    let out = cargo()
        .args([
            "tree",
            "--offline",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(pkgs)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut names: Vec<&str> = text
                .lines()
                .map(|l| l.trim_end_matches(" (*)").trim())
                .filter(|l| !l.is_empty())
                .collect();
            names.sort_unstable();
            names.dedup();
            let n = names.len() as f64;
            Reading::Value {
                value: n,
                reps: vec![n],
            }
        }
        Ok(o) => Reading::Skipped(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Reading::Skipped(format!("cannot run cargo: {e}")),
    }
}

fn stripped_size(target: &Path, build_args: &[&str], artifact: &str) -> Reading {
    eprintln!("   building {} (release)", build_args.join(" "));
    let status = cargo()
        .args(["build", "--release", "--quiet"])
        .args(build_args)
        .env("CARGO_TARGET_DIR", target)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Reading::Skipped(format!("cargo build {} failed ({s})", build_args.join(" ")))
        }
        Err(e) => return Reading::Skipped(format!("cannot run cargo: {e}")),
    }
    let bin = target.join(artifact);
    let copy = std::env::temp_dir().join(format!("tern-bench-strip-{}", std::process::id()));
    if let Err(e) = std::fs::copy(&bin, &copy) {
        return Reading::Skipped(format!("{}: {e}", bin.display()));
    }
    let res = match Command::new("strip").arg(&copy).status() {
        Ok(s) if s.success() => match std::fs::metadata(&copy) {
            Ok(m) => {
                let kib = m.len() as f64 / 1024.0;
                Reading::Value {
                    value: kib,
                    reps: vec![kib],
                }
            }
            Err(e) => Reading::Skipped(format!("stat: {e}")),
        },
        Ok(s) => Reading::Skipped(format!("strip failed ({s})")),
        Err(e) => Reading::Skipped(format!("strip not available: {e}")),
    };
    let _ = std::fs::remove_file(&copy);
    res
}
