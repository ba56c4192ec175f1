//! Runs every benchmark group with tiny iteration counts (`--quick`), so
//! the benchmarks keep compiling and running as tern changes. Groups that
//! need a missing external program (strace, perf, nsd, strip) skip those
//! parts themselves and say why in the report.

use std::process::Command;

#[test]
fn every_group_runs_quickly() {
    let json = std::env::temp_dir().join(format!("tern-bench-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_tern-benches"))
        .args(["all", "--quick", "--reps", "2", "--json"])
        // The thread-per-core group's server: the rot13 example, as built
        // by this package.
        .env("TERN_BENCH_ROT13", env!("CARGO_BIN_EXE_rot13"))
        .arg(&json)
        .output()
        .expect("run tern-benches");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tern-benches failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    for group in [
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
    ] {
        assert!(
            stdout.contains(&format!("### {group}")),
            "no table for {group}:\n{stdout}"
        );
    }
    // These groups need nothing outside the tree: every runtime must have
    // produced its figures (a skipped cell is listed as `GROUP / COLUMN:`).
    for group in ["udp-recv", "thread-per-core"] {
        assert!(
            !stdout.contains(&format!("- {group} / ")),
            "{group} skipped a runtime:\n{stdout}"
        );
    }
    // The channel benchmarks check every message arrived; a failed check
    // shows as a skipped cell.
    let sync_table = stdout
        .split("### sync")
        .nth(1)
        .and_then(|t| t.split("###").next())
        .unwrap_or("");
    assert!(
        !sync_table.contains("skipped"),
        "a sync benchmark failed:\n{stdout}"
    );
    let text = std::fs::read_to_string(&json).expect("JSON written");
    let _ = std::fs::remove_file(&json);
    assert!(text.starts_with("{\n  \"schema\": \"tern-bench/1\""));
    assert!(text.contains("\"metrics\": ["));
}
