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
        "tcp",
        "dns",
        "footprint",
    ] {
        assert!(
            stdout.contains(&format!("### {group}")),
            "no table for {group}:\n{stdout}"
        );
    }
    let text = std::fs::read_to_string(&json).expect("JSON written");
    let _ = std::fs::remove_file(&json);
    assert!(text.starts_with("{\n  \"schema\": \"tern-bench/1\""));
    assert!(text.contains("\"metrics\": ["));
}
