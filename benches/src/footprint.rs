//! Footprint: stripped release binary size and dependency count of tern's
//! `resolve` example against a tokio + hickory-resolver program that does
//! the same (`src/bin/tokio_hickory_resolve.rs`).
//!
//! Sizes need release builds of both, made with `cargo build --release`
//! into the target directory this binary runs from; `--quick` skips them
//! and counts dependencies only. Clean build times are not measured: on a
//! 2-core machine shared with other builds they would take minutes and
//! say more about the machine's load than about the code.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::{Better, Cell, Metric};
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
    notes.push("footprint: clean build time not measured (minutes on 2 shared cores; too noisy to compare)".into());

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
        size.set("tern", Cell::Skipped(why.clone()));
        size.set("tokio-hickory", Cell::Skipped(why));
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
                    Cell::Skipped("cannot find the target directory".into()),
                );
            }
        }
    }
    out.push(size);
    out
}

fn count_deps(pkgs: &[&str]) -> Cell {
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
            Cell::Value {
                value: n,
                reps: vec![n],
            }
        }
        Ok(o) => Cell::Skipped(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Cell::Skipped(format!("cannot run cargo: {e}")),
    }
}

fn stripped_size(target: &Path, build_args: &[&str], artifact: &str) -> Cell {
    eprintln!("   building {} (release)", build_args.join(" "));
    let status = cargo()
        .args(["build", "--release", "--quiet"])
        .args(build_args)
        .env("CARGO_TARGET_DIR", target)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            return Cell::Skipped(format!("cargo build {} failed ({s})", build_args.join(" ")))
        }
        Err(e) => return Cell::Skipped(format!("cannot run cargo: {e}")),
    }
    let bin = target.join(artifact);
    let copy = std::env::temp_dir().join(format!("tern-bench-strip-{}", std::process::id()));
    if let Err(e) = std::fs::copy(&bin, &copy) {
        return Cell::Skipped(format!("{}: {e}", bin.display()));
    }
    let res = match Command::new("strip").arg(&copy).status() {
        Ok(s) if s.success() => match std::fs::metadata(&copy) {
            Ok(m) => {
                let kib = m.len() as f64 / 1024.0;
                Cell::Value {
                    value: kib,
                    reps: vec![kib],
                }
            }
            Err(e) => Cell::Skipped(format!("stat: {e}")),
        },
        Ok(s) => Cell::Skipped(format!("strip failed ({s})")),
        Err(e) => Cell::Skipped(format!("strip not available: {e}")),
    };
    let _ = std::fs::remove_file(&copy);
    res
}
