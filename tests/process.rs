//! tern::process: stdout/stderr/exit code, stdin piping, kill, large
//! output, errors, and reaping of dropped children.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use tern::process::Command;

/// Whether `prog` can be run from `PATH`. When it cannot, a test fails if
/// `CI` is set and is skipped with a notice otherwise.
fn have(prog: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(prog).is_file()));
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{prog} is needed by this test and is missing"
        );
        eprintln!("SKIPPED: {prog} not found in PATH");
    }
    found
}

/// Runs `sh -c script` to completion, capturing its output.
async fn sh_output(script: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", script])
        .output()
        .await
        .unwrap()
}

/// Runs `sh -c script` to completion.
async fn sh_status(script: &str) -> std::process::ExitStatus {
    Command::new("sh")
        .args(["-c", script])
        .status()
        .await
        .unwrap()
}

/// Spawns `sh -c script` with its stdin a pipe (in `child.stdin`).
fn sh_with_stdin_pipe(script: &str) -> tern::process::Child {
    Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The state letter of process `pid` in /proc (`Z` for a zombie), or
/// `None` if there is no such process (it was reaped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[tern::test]
async fn output_captures_stdout_stderr_and_exit_code() {
    if !have("sh") {
        return;
    }
    let out = sh_output("echo out; echo err >&2; exit 3").await;
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status.code(), Some(3));
}

#[tern::test]
async fn status_env_and_current_dir() {
    if !have("sh") {
        return;
    }
    let dir = std::env::temp_dir();
    let ok = Command::new("sh")
        .args([
            "-c",
            "test \"$TERN_X\" = yes && test \"$(pwd -P)\" = \"$(cd \"$1\" && pwd -P)\"",
            "sh",
        ])
        .arg(&dir)
        .env("TERN_X", "yes")
        .current_dir(&dir)
        .status()
        .await
        .unwrap();
    assert!(ok.success());
    let bad = sh_status("exit 1").await;
    assert_eq!(bad.code(), Some(1));
}

#[tern::test]
async fn stdin_to_stdout_through_pipes() {
    if !have("cat") {
        return;
    }
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // 256 KiB: more than a pipe holds, so writing and reading must overlap.
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let writer = async {
        stdin.write_all(&data).await.unwrap();
        drop(stdin); // EOF for cat
    };
    let reader = async {
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).await.unwrap();
        got
    };
    let ((), got) = tern::join!(writer, reader);
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert!(child.wait().await.unwrap().success());
}

#[tern::test]
async fn large_output_does_not_deadlock() {
    if !have("sh") {
        return;
    }
    // 1 MB on each of stdout and stderr: both must be read while waiting.
    let out = sh_output("i=0; while [ $i -lt 16 ]; do head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2; i=$((i+1)); done").await;
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 1 << 20);
    assert_eq!(out.stderr.len(), 1 << 20);
}

#[tern::test]
async fn kill_ends_a_running_child() {
    if !have("sleep") {
        return;
    }
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id().unwrap();
    assert!(child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(libc_sigkill()));
    assert_eq!(child.id(), None, "reaped");
    assert_eq!(proc_state(pid), None);
    child.kill().unwrap(); // after reaping: harmless
    assert_eq!(child.wait().await.unwrap(), status);
}

fn libc_sigkill() -> i32 {
    9
}

#[tern::test]
async fn wait_lets_other_tasks_run() {
    if !have("sh") {
        return;
    }
    // The child exits only when a task of this runtime closes its stdin,
    // after three timer ticks: wait() must keep the runtime running.
    let mut child = sh_with_stdin_pipe("read line; exit 0");
    let stdin = child.stdin.take().unwrap();
    let closer = tern::spawn(async move {
        for _ in 0..3 {
            tern::time::sleep(Duration::from_millis(1)).await;
        }
        drop(stdin);
    });
    assert!(child.wait().await.unwrap().success());
    assert!(closer.is_finished());
}

#[tern::test]
async fn missing_program_names_it() {
    let err = Command::new("/nonexistent/tern-no-such-program")
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("tern-no-such-program"), "{err}");
}

#[test]
fn spawn_outside_a_runtime_is_a_clear_error() {
    let err = Command::new("true").spawn().unwrap_err();
    assert!(err.to_string().contains("inside a tern runtime"), "{err}");
}

#[tern::test]
async fn dropped_child_is_reaped() {
    if !have("sh") {
        return;
    }
    let mut child = sh_with_stdin_pipe("read line");
    let pid = child.id().unwrap();
    // A pidfd of our own tells when the dropped child has exited.
    let pidfd = tern::sys::process::pidfd_open(pid).unwrap();
    let exited = tern::io::IoSource::new(pidfd).unwrap();
    let stdin = child.stdin.take().unwrap();
    drop(child); // still running: it goes on the orphan list
    drop(stdin); // now it reads EOF and exits
    exited.ready(tern::io::Direction::Read).await.unwrap();
    // A zombie now, unless a test running in parallel swept the orphans.
    assert!(matches!(proc_state(pid), Some('Z') | None));
    // The next spawn (or drop, or finished wait) sweeps the orphans.
    let ok = sh_status("exit 0").await;
    assert!(ok.success());
    assert_eq!(proc_state(pid), None, "the dropped child was reaped");
}

#[tern::test]
async fn dropped_child_is_reaped_without_another_spawn() {
    if !have("sh") {
        return;
    }
    let mut child = sh_with_stdin_pipe("read line");
    let pid = child.id().unwrap();
    let exited = tern::io::IoSource::new(tern::sys::process::pidfd_open(pid).unwrap()).unwrap();
    let stdin = child.stdin.take().unwrap();
    drop(child);
    drop(stdin);
    exited.ready(tern::io::Direction::Read).await.unwrap();
    // The runtime's reaper task sees the same exit; give it turns to run.
    for _ in 0..10_000 {
        if proc_state(pid).is_none() {
            break;
        }
        tern::yield_now().await;
    }
    assert_eq!(proc_state(pid), None, "the dropped child was reaped");
}

#[tern::test]
async fn kill_on_drop_kills() {
    if !have("sleep") {
        return;
    }
    let child = Command::new("sleep")
        .arg("30")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let exited = tern::io::IoSource::new(tern::sys::process::pidfd_open(pid).unwrap()).unwrap();
    drop(child);
    exited.ready(tern::io::Direction::Read).await.unwrap();
    let _ = sh_status("exit 0").await;
    assert_eq!(proc_state(pid), None);
}
