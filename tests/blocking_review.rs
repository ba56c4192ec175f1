//! Review of spawn_blocking, child processes and signals: deliveries that
//! come before the first poll or on two runtimes at once, many children
//! waited together, and no descriptors or zombies left behind.

use std::process::Stdio;
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::Duration;

use tern::process::Command;
use tern::signal::{signal, SignalKind};
use tern::sys::signal::raise_process;

#[path = "common/heap.rs"]
mod heap;

fn fds() -> usize {
    tern::sys::process::open_fd_count().unwrap()
}

/// The descriptor counts are process-wide: the tests of this file run
/// one at a time.
static FD_TESTS: Mutex<()> = Mutex::new(());

fn fd_test(f: impl std::future::Future<Output = ()>) {
    let _one = FD_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
    tern::block_on(f);
}

/// Whether this process catches signal `sig` (the `SigCgt` mask of
/// /proc/self/status).
fn caught(sig: i32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .unwrap()
        .trim();
    let mask = u64::from_str_radix(mask, 16).unwrap();
    mask & (1u64 << (sig - 1)) != 0
}

/// `signal` refused outside a runtime leaves the signal's default action
/// alone: an error must not have taken over, say, SIGTERM for good.
#[test]
fn signal_refused_outside_a_runtime_installs_no_handler() {
    let _one = FD_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
    let kind = SignalKind::window_change();
    assert!(!caught(kind.as_raw_value()));
    let err = signal(kind).unwrap_err();
    assert!(err.to_string().contains("inside a tern runtime"), "{err}");
    assert!(
        !caught(kind.as_raw_value()),
        "a refused signal() replaced the default action"
    );
}

/// A signal raised after the stream is made but before it is first
/// polled is delivered.
#[test]
fn signal_before_first_poll_is_delivered() {
    fd_test(signal_before_first_poll())
}

async fn signal_before_first_poll() {
    let mut s = signal(SignalKind::user_defined1()).unwrap();
    raise_process(libc_sigusr1()).unwrap();
    tern::time::timeout(Duration::from_secs(10), s.recv())
        .await
        .expect("delivery before the first poll was lost");
}

fn libc_sigusr1() -> i32 {
    SignalKind::user_defined1().as_raw_value()
}

/// Two runtimes on two threads each listen for the same signal; each
/// delivery reaches both, round after round.
#[test]
fn signal_reaches_streams_on_two_runtimes() {
    let _one = FD_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
    const ROUNDS: usize = 20;
    let kind = SignalKind::user_defined2();
    let ready = Arc::new(Barrier::new(3));
    let done = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (ready, done) = (ready.clone(), done.clone());
            std::thread::spawn(move || {
                let rt = tern::Runtime::new().unwrap();
                rt.block_on(async {
                    let mut s = signal(kind).unwrap();
                    for _ in 0..ROUNDS {
                        ready.wait();
                        tern::time::timeout(Duration::from_secs(10), s.recv())
                            .await
                            .expect("a runtime missed a delivery");
                        done.wait();
                    }
                });
            })
        })
        .collect();
    for _ in 0..ROUNDS {
        ready.wait();
        raise_process(kind.as_raw_value()).unwrap();
        done.wait();
    }
    for t in threads {
        t.join().unwrap();
    }
}

/// Many children waited at once all finish and are reaped; their pidfds
/// and pipes are closed afterwards.
#[test]
fn many_children_at_once_leave_nothing_behind() {
    fd_test(many_children())
}

async fn many_children() {
    const N: usize = 40;
    // Warm up the runtime's own descriptors first.
    Command::new("true").status().await.unwrap();
    let before = fds();
    let mut pids = Vec::new();
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let child = Command::new("sh")
                .args(["-c", &format!("echo {i}; echo e >&2")])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            pids.push(child.id().unwrap());
            tern::spawn(async move {
                let out = child.wait_with_output();
                out.await.unwrap()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let out = h.await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, format!("{i}\n").as_bytes());
        assert_eq!(out.stderr, b"e\n");
    }
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} left unreaped"
        );
    }
    assert_eq!(fds(), before, "descriptors leaked by the children");
}

/// A child that exits before its waiter is first polled is reaped, and a
/// dropped child with open pipes leaves no descriptor.
#[test]
fn exited_before_wait_and_dropped_with_pipes() {
    fd_test(exited_before_wait())
}

async fn exited_before_wait() {
    Command::new("true").status().await.unwrap();
    let before = fds();
    let mut child = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
    let pid = child.id().unwrap();
    // Wait for the exit through a second pidfd-free route: the pipe's EOF.
    let mut out = child.stdout.take().unwrap();
    let mut buf = Vec::new();
    futures_util::AsyncReadExt::read_to_end(&mut out, &mut buf)
        .await
        .unwrap();
    drop(out);
    let st = tern::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(st.success());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let child = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    drop(child);
    // The reaper holds a pidfd until the kill lands.
    for _ in 0..1000 {
        if tern::process::orphan_count() == 0 && fds() == before {
            break;
        }
        tern::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(fds(), before, "descriptors leaked by a dropped child");
}

/// A detached blocking job whose JoinHandle was dropped still runs, and a
/// runtime dropped while its jobs run ends without waiting for them.
#[test]
fn blocking_jobs_outlive_handle_and_runtime() {
    let _one = FD_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
    let (tx, rx) = std::sync::mpsc::channel();
    let gate = Arc::new(Barrier::new(2));
    {
        let rt = tern::Runtime::new().unwrap();
        let g = gate.clone();
        rt.block_on(async move {
            drop(tern::spawn_blocking(move || {
                g.wait();
                tx.send(7).unwrap();
                vec![1u8; 16]
            }));
            tern::yield_now().await;
        });
    }
    gate.wait();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
    let rt = tern::Runtime::new().unwrap();
    let v = rt.block_on(async { tern::spawn_blocking(|| 5).await.unwrap() });
    assert_eq!(v, 5);
}

/// A child whose wait was cancelled in one runtime can still be waited
/// for in a later one (the pidfd of the first is of no use there).
#[test]
fn wait_cancelled_in_one_runtime_finishes_in_another() {
    let _one = FD_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
    let (mut child, stdin) = tern::block_on(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take();
        // One poll of the wait: cat still runs, the pidfd is opened here.
        let waited = tern::time::timeout(Duration::ZERO, child.wait()).await;
        assert!(waited.is_err(), "cat ended with its stdin open");
        (child, stdin)
    });
    let pid = child.id().unwrap();
    let st = tern::block_on(async {
        // cat runs until its stdin closes, which is after the wait's
        // first poll here.
        let close = async {
            tern::yield_now().await;
            drop(stdin);
        };
        let wait = tern::time::timeout(Duration::from_secs(10), child.wait());
        let (st, ()) = futures_util::future::join(wait, close).await;
        st.expect("the wait never finished")
    })
    .expect("the wait failed in the second runtime");
    assert!(st.success());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

/// Streams made and dropped with no delivery in between (`ctrl_c()` in a
/// `select!` loop, say) leave nothing behind in the listener list.
#[test]
fn dropped_streams_leave_no_listener_behind() {
    fd_test(async {
        let kind = SignalKind::hangup();
        drop(signal(kind).unwrap());
        heap::start_counting();
        for _ in 0..2000 {
            drop(signal(kind).unwrap());
        }
        let net = heap::stop_counting();
        assert!(net < 4096, "2000 dropped streams kept {net} bytes");
    })
}
