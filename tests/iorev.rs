//! Review tests (iorev): several waiters on one IoSource direction, fd
//! reuse after a source is dropped, self-abort, abort after completion,
//! JoinSet with panicked/aborted/finished members, drop and detach.

#[path = "common/drop_count.rs"]
mod drop_count;

use std::cell::{Cell, RefCell};
use std::future::{pending, poll_fn};
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::task::Poll;

use tern::io::{Direction, IoSource};
use tern::{AbortHandle, JoinSet};

use drop_count::DropCount;

fn readable_pair() -> (Rc<IoSource>, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (Rc::new(IoSource::new(OwnedFd::from(a)).unwrap()), b)
}

fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    // Read through a borrowed fd: ManuallyDrop keeps it open.
    // SAFETY: `fd` is open for the duration of the call.
    let s = ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(fd.as_raw_fd()) });
    (&*s).read(buf)
}

/// Two tasks wait for readability of one source (one via `ready`, one via
/// `io`, one via the poll API): a single edge wakes all of them.
#[tern::test]
async fn one_edge_wakes_every_reader() {
    let (src, mut peer) = readable_pair();
    let woke = Rc::new(Cell::new(0u32));
    let mut set = JoinSet::new();
    {
        let (s, w) = (src.clone(), woke.clone());
        set.spawn(async move {
            s.ready(Direction::Read).await.unwrap();
            w.set(w.get() + 1);
        });
    }
    {
        let (s, w) = (src.clone(), woke.clone());
        set.spawn(async move {
            s.ready(Direction::Read).await.unwrap();
            w.set(w.get() + 1);
        });
    }
    {
        let (s, w) = (src.clone(), woke.clone());
        set.spawn(async move {
            poll_fn(|cx| s.poll_ready(cx, Direction::Read))
                .await
                .unwrap();
            w.set(w.get() + 1);
        });
    }
    for _ in 0..3 {
        tern::yield_now().await;
    }
    assert_eq!(woke.get(), 0, "nothing readable yet");
    peer.write_all(b"x").unwrap();
    // One wakes; the same edge woke the others, so a few turns finish them
    // (a lost wake-up fails here instead of hanging).
    assert!(set.join_next().await.unwrap().is_ok());
    for _ in 0..3 {
        tern::yield_now().await;
    }
    assert_eq!(woke.get(), 3, "every waiter woken by the one edge");
}

/// One reader drains the data (and hits WouldBlock, clearing readiness)
/// while another reader woken by the same edge still waits: the second
/// one must then wait for, and get, the next edge.
#[tern::test]
async fn a_reader_that_clears_readiness_leaves_the_other_waiting_for_the_next_edge() {
    let (src, mut peer) = readable_pair();
    let got = Rc::new(RefCell::new(Vec::new()));
    let mut set = JoinSet::new();
    for id in 0..2u8 {
        let (s, g) = (src.clone(), got.clone());
        set.spawn(async move {
            let mut buf = [0u8; 1];
            let n = s
                .io(Direction::Read, |fd| recv(fd, &mut buf))
                .await
                .unwrap();
            g.borrow_mut().push((id, n));
        });
    }
    tern::yield_now().await;
    peer.write_all(b"a").unwrap();
    assert!(set.join_next().await.unwrap().is_ok());
    assert_eq!(got.borrow().len(), 1);
    for _ in 0..3 {
        tern::yield_now().await;
    }
    assert_eq!(got.borrow().len(), 1, "the second reader found no data");
    peer.write_all(b"b").unwrap();
    assert!(set.join_next().await.unwrap().is_ok());
    assert_eq!(got.borrow().len(), 2);
}

/// A source is dropped with an edge pending, and its fd number (and slab
/// slot) are reused by a new source on an idle socket: the new source must
/// not be made readable by the old registration's event, and must see its
/// own first edge.
#[tern::test]
async fn fd_reuse_neither_inherits_nor_misses_an_edge() {
    let (old, mut old_peer) = readable_pair();
    old_peer.write_all(b"old").unwrap();
    let old_fd = old.as_raw_fd();
    drop(old);
    let (new, mut new_peer) = readable_pair();
    // The fd number is normally reused (the lowest free one), unless a
    // test on another thread took it meanwhile; the slab slot always is.
    let _ = new.as_raw_fd() == old_fd;
    for _ in 0..3 {
        tern::yield_now().await;
    }
    // Give the reactor a turn: a spawned task waiting on a fresh idle
    // socket forces the runtime to poll epoll when nothing else is ready.
    let (probe, mut probe_peer) = readable_pair();
    let p = probe.clone();
    let t = tern::spawn(async move { p.ready(Direction::Read).await.unwrap() });
    probe_peer.write_all(b"p").unwrap();
    t.await.unwrap();
    assert!(
        !new.is_ready(Direction::Read),
        "inherited the old fd's edge"
    );
    let n2 = new.clone();
    let t = tern::spawn(async move {
        let mut buf = [0u8; 8];
        n2.io(Direction::Read, |fd| recv(fd, &mut buf))
            .await
            .unwrap()
    });
    tern::yield_now().await;
    new_peer.write_all(b"new!").unwrap();
    assert_eq!(t.await.unwrap(), 4);
}

/// A task aborts itself through its AbortHandle while running, then
/// waits: it comes out cancelled, and its future is dropped once.
#[tern::test]
async fn self_abort_while_running() {
    let drops = Rc::new(Cell::new(0));
    let slot: Rc<RefCell<Option<AbortHandle>>> = Rc::new(RefCell::new(None));
    let mut set = JoinSet::new();
    let (g, s) = (DropCount(drops.clone()), slot.clone());
    let h = set.spawn(async move {
        let _g = g;
        tern::yield_now().await;
        let h = s.borrow_mut().take().unwrap();
        h.abort();
        pending::<()>().await;
        1u8
    });
    *slot.borrow_mut() = Some(h);
    let err = set.join_next().await.unwrap().unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(drops.get(), 1);
}

/// The same with a JoinHandle kept in the task's reach, and the task
/// finishing in the very poll that aborted it: whatever the result, the
/// output and the future are each dropped exactly once.
#[tern::test]
async fn self_abort_then_return_drops_everything_once() {
    let fut_drops = Rc::new(Cell::new(0));
    let out_drops = Rc::new(Cell::new(0));
    let slot: Rc<RefCell<Option<tern::JoinHandle<DropCount>>>> = Rc::new(RefCell::new(None));
    let (g, s, od) = (
        DropCount(fut_drops.clone()),
        slot.clone(),
        out_drops.clone(),
    );
    let h = tern::spawn(async move {
        let _g = g;
        tern::yield_now().await;
        s.borrow().as_ref().unwrap().abort();
        DropCount(od)
    });
    *slot.borrow_mut() = Some(h);
    let h = loop {
        tern::yield_now().await;
        if slot.borrow().as_ref().unwrap().is_finished() {
            break slot.borrow_mut().take().unwrap();
        }
    };
    let res = h.await;
    drop(res);
    assert_eq!(fut_drops.get(), 1);
    assert_eq!(out_drops.get(), 1);
}

/// abort() after completion does nothing: the output is still there.
#[tern::test]
async fn abort_after_completion_keeps_the_output() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let h = tern::spawn(async move { DropCount(d) });
    while !h.is_finished() {
        tern::yield_now().await;
    }
    h.abort();
    for _ in 0..3 {
        tern::yield_now().await;
    }
    assert_eq!(drops.get(), 0);
    let out = h.await.expect("output kept");
    drop(out);
    assert_eq!(drops.get(), 1);

    // Dropped without awaiting: the output is dropped once.
    let d = drops.clone();
    let h = tern::spawn(async move { DropCount(d) });
    while !h.is_finished() {
        tern::yield_now().await;
    }
    h.abort();
    drop(h);
    assert_eq!(drops.get(), 2);
}

/// join_next with a panicked, an aborted and a finished member, then drop
/// of a set with members running and one finished but not collected.
#[tern::test]
async fn join_set_mixed_members_and_drop() {
    let mut set = JoinSet::new();
    set.spawn(async { panic!("boom") });
    let a = set.spawn(pending::<u8>());
    set.spawn(async { 3u8 });
    a.abort();
    let (mut panics, mut cancels, mut oks) = (0, 0, 0);
    while let Some(r) = set.join_next().await {
        match r {
            Ok(3) => oks += 1,
            Err(e) if e.is_panic() => panics += 1,
            Err(e) if e.is_cancelled() => cancels += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((panics, cancels, oks), (1, 1, 1));

    let fut_drops = Rc::new(Cell::new(0));
    let out_drops = Rc::new(Cell::new(0));
    let mut set = JoinSet::new();
    for _ in 0..3 {
        let (g, o) = (DropCount(fut_drops.clone()), out_drops.clone());
        set.spawn(async move {
            let _g = g;
            pending::<()>().await;
            DropCount(o)
        });
    }
    let o = out_drops.clone();
    set.spawn(async move { DropCount(o) });
    tern::yield_now().await;
    tern::yield_now().await;
    assert_eq!(set.len(), 4);
    drop(set);
    for _ in 0..4 {
        tern::yield_now().await;
    }
    assert_eq!(fut_drops.get(), 3, "running members dropped once each");
    assert_eq!(out_drops.get(), 1, "finished member's output dropped once");
    assert_eq!(tern::current_metrics().unwrap().tasks, 0);
}

/// detach_all: members keep running; a later member in a reused slot is
/// unaffected by the detached ones finishing.
#[tern::test]
async fn detached_members_run_on_and_do_not_disturb_new_ones() {
    let ran = Rc::new(Cell::new(0));
    let (tx, rx) = tern::sync::oneshot::channel::<()>();
    let mut set = JoinSet::new();
    {
        let r = ran.clone();
        set.spawn(async move {
            rx.await.unwrap();
            r.set(r.get() + 1);
            1u8
        });
    }
    set.detach_all();
    assert!(set.is_empty());
    let (tx2, rx2) = tern::sync::oneshot::channel::<()>();
    set.spawn(async move {
        rx2.await.unwrap();
        2u8
    });
    tx.send(()).unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..3 {
        tern::yield_now().await;
        assert!(matches!(set.poll_join_next(&mut cx), Poll::Pending));
    }
    assert_eq!(ran.get(), 1, "the detached member ran");
    tx2.send(()).unwrap();
    assert_eq!(set.join_next().await.unwrap().unwrap(), 2);
    assert!(set.join_next().await.is_none());
}

/// A task parked in the poll API on a source it reaches through a shared
/// cell; another task drops the source. The parked task must be woken (to
/// find the source gone), not left pending forever with its waker dropped.
#[tern::test]
async fn dropping_a_source_wakes_its_parked_poll_waiters() {
    let (src, _peer) = readable_pair();
    let src = Rc::try_unwrap(src).unwrap();
    let cell: Rc<RefCell<Option<IoSource>>> = Rc::new(RefCell::new(Some(src)));
    let c = cell.clone();
    let t = tern::spawn(async move {
        poll_fn(|cx| match c.borrow().as_ref() {
            Some(s) => s.poll_ready(cx, Direction::Read).map(|r| r.map(|()| true)),
            None => Poll::Ready(Ok(false)),
        })
        .await
        .unwrap()
    });
    for _ in 0..3 {
        tern::yield_now().await;
    }
    assert!(!t.is_finished(), "parked: nothing readable");
    drop(cell.borrow_mut().take());
    for _ in 0..3 {
        tern::yield_now().await;
    }
    assert!(t.is_finished(), "the parked task was never woken");
    assert!(!t.await.unwrap(), "it found the source gone");
}
