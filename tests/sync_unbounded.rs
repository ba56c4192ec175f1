//! tern::sync::mpsc's unbounded channel under races: std threads sending
//! while the receiver drains, cancels its `recv`, is dropped mid-stream,
//! or goes down with its runtime. Every message is counted: received,
//! handed back by a failed send, or dropped by the channel, exactly once.
//! The CI job also runs this file under AddressSanitizer (with
//! `--cfg tern_widen_races`, which leaves claimed slots unwritten for a
//! while).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use tern::sync::mpsc::{self, SendError, TryRecvError};

/// Where every message of a run ended.
struct Ledger {
    /// Drops per message id.
    drops: Vec<AtomicU32>,
    /// Messages dropped by the channel itself (neither received nor
    /// handed back).
    by_channel: AtomicUsize,
}

impl Ledger {
    fn new(n: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            drops: (0..n).map(|_| AtomicU32::new(0)).collect(),
            by_channel: AtomicUsize::new(0),
        })
    }

    /// Every message was dropped exactly once.
    fn assert_each_dropped_once(&self) {
        for (id, d) in self.drops.iter().enumerate() {
            assert_eq!(
                d.load(SeqCst),
                1,
                "message {id} dropped {} times",
                d.load(SeqCst)
            );
        }
    }
}

/// A message that owns heap memory (so the sanitizer sees a double drop
/// or a leak) and tells its ledger how it ended.
struct Msg {
    sender: usize,
    seq: usize,
    id: usize,
    _heap: Box<[u8; 24]>,
    /// Received, or handed back by a failed send.
    accounted: bool,
    ledger: Arc<Ledger>,
}

impl Msg {
    fn new(ledger: &Arc<Ledger>, sender: usize, seq: usize, per_sender: usize) -> Msg {
        Msg {
            sender,
            seq,
            id: sender * per_sender + seq,
            _heap: Box::new([sender as u8; 24]),
            accounted: false,
            ledger: ledger.clone(),
        }
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, SeqCst);
        if !self.accounted {
            self.ledger.by_channel.fetch_add(1, SeqCst);
        }
    }
}

/// Checks per-sender order and marks the message received.
struct Order(Vec<usize>);

impl Order {
    fn new(senders: usize) -> Order {
        Order(vec![0; senders])
    }

    fn take(&mut self, mut m: Msg) {
        // Failed sends come only after the accepted ones, so each sender's
        // messages arrive exactly in sequence.
        assert_eq!(
            m.seq, self.0[m.sender],
            "sender {}: message out of sequence (lost, duplicated or reordered)",
            m.sender
        );
        self.0[m.sender] += 1;
        m.accounted = true;
    }
}

/// Sends `per_sender` messages (or until a send fails; every later send
/// must fail too) and returns how many were accepted. Once `rx_gone` is
/// seen set, sends must fail.
fn send_all(
    tx: mpsc::UnboundedSender<Msg>,
    ledger: Arc<Ledger>,
    k: usize,
    per_sender: usize,
    rx_gone: Arc<AtomicBool>,
    start: Arc<Barrier>,
) -> (usize, bool) {
    start.wait();
    let mut ok = 0;
    let mut failed = false;
    for seq in 0..per_sender {
        let gone = rx_gone.load(SeqCst);
        match tx.send(Msg::new(&ledger, k, seq, per_sender)) {
            Ok(()) => {
                assert!(!failed, "sender {k}: a send succeeded after one failed");
                assert!(
                    !gone,
                    "sender {k}: a send succeeded after the receiver's drop"
                );
                ok += 1;
            }
            Err(SendError(mut m)) => {
                assert!(tx.is_closed());
                failed = true;
                m.accounted = true;
            }
        }
        if seq % 64 == 0 {
            std::thread::yield_now();
        }
    }
    (ok, failed)
}

/// A channel and `senders` std threads each waiting at the returned barrier
/// (which also waits for the receiver's side), then sending `per` messages
/// with [`send_all`]; the senders' own `tx` is dropped, so the channel ends
/// when they do.
#[allow(clippy::type_complexity)]
fn spawn_senders(
    senders: usize,
    per: usize,
    rx_gone: &Arc<AtomicBool>,
) -> (
    Arc<Ledger>,
    mpsc::UnboundedReceiver<Msg>,
    Arc<Barrier>,
    Vec<std::thread::JoinHandle<(usize, bool)>>,
) {
    let ledger = Ledger::new(senders * per);
    let (tx, rx) = mpsc::unbounded_channel::<Msg>();
    let start = Arc::new(Barrier::new(senders + 1));
    let threads = (0..senders)
        .map(|k| {
            let (tx, ledger, gone, start) =
                (tx.clone(), ledger.clone(), rx_gone.clone(), start.clone());
            std::thread::spawn(move || send_all(tx, ledger, k, per, gone, start))
        })
        .collect();
    (ledger, rx, start, threads)
}

#[test]
fn unbounded_receiver_dropped_mid_stream_by_racing_threads() {
    const SENDERS: usize = 4;
    const PER: usize = 1_500;
    for round in 0..24 {
        let rx_gone = Arc::new(AtomicBool::new(false));
        let (ledger, mut rx, start, threads) = spawn_senders(SENDERS, PER, &rx_gone);
        // Received before the drop: from none to about all of them.
        let keep = round * 263 % (SENDERS * PER);
        let received = tern::block_on(async {
            start.wait();
            let mut order = Order::new(SENDERS);
            for _ in 0..keep {
                let Some(m) = rx.recv().await else { break };
                order.take(m);
            }
            order.0.iter().sum::<usize>()
        });
        drop(rx);
        rx_gone.store(true, SeqCst);
        // Every message accepted before the drop was dropped by it: none is
        // left in the channel for later.
        let by_drop = ledger.by_channel.load(SeqCst);
        let mut accepted = 0;
        for t in threads {
            let (ok, _) = t.join().unwrap();
            accepted += ok;
        }
        ledger.assert_each_dropped_once();
        assert_eq!(
            ledger.by_channel.load(SeqCst),
            by_drop,
            "round {round}: messages left in the channel after the receiver's drop"
        );
        assert_eq!(
            accepted,
            received + by_drop,
            "round {round}: accepted sends = received + dropped with the receiver"
        );
    }
}

#[tern::test]
async fn unbounded_cancelled_recvs_lose_nothing() {
    // The receiver's `recv` is cut short by timeouts of 0-20 µs, often
    // while it is parked on a slot that a sender is about to write; now
    // and then it uses try_recv. Nothing is lost or duplicated. A recv is
    // cut short only when it finds the channel empty, which four fast
    // senders may never let happen in a round (about one round in four
    // here): every round checks the messages, and up to five rounds are
    // run until one has had its recvs cancelled.
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let cancelled = cancelled_recvs_round().await;
        rounds.push(cancelled);
        if cancelled > 0 {
            return;
        }
    }
    panic!("no recv was cancelled in {rounds:?} rounds: the test tests nothing");
}

/// One round of [`unbounded_cancelled_recvs_lose_nothing`]: the recvs
/// cancelled.
async fn cancelled_recvs_round() -> u32 {
    const SENDERS: usize = 4;
    const PER: usize = 4_000;
    let never = Arc::new(AtomicBool::new(false));
    let (ledger, mut rx, start, threads) = spawn_senders(SENDERS, PER, &never);
    let start2 = start.clone();
    tern::spawn_blocking(move || start2.wait()).await.unwrap();
    let mut order = Order::new(SENDERS);
    let (mut cancelled, mut i) = (0u32, 0u64);
    loop {
        i += 1;
        if i % 7 == 0 {
            match rx.try_recv() {
                Ok(m) => order.take(m),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
            continue;
        }
        let d = Duration::from_micros(i % 3 * 10);
        match tern::time::timeout(d, rx.recv()).await {
            Ok(Some(m)) => order.take(m),
            Ok(None) => break,
            Err(_) => cancelled += 1,
        }
    }
    for t in threads {
        assert_eq!(t.join().unwrap(), (PER, false));
    }
    assert_eq!(
        order.0, [PER; SENDERS],
        "every message arrived once, in order"
    );
    ledger.assert_each_dropped_once();
    assert_eq!(ledger.by_channel.load(SeqCst), 0);
    cancelled
}

#[test]
fn unbounded_senders_racing_runtime_shutdown() {
    // The receiving task parks and wakes while std threads send; the
    // runtime ends under it (dropping the task and its receiver) while
    // the threads go on sending and waking it. A thread still sending then
    // sees its sends fail, and every message is accounted for. (A thread
    // the scheduler let finish first sent everything: that is no race.)
    const SENDERS: usize = 3;
    const PER: usize = 50_000;
    let mut raced = 0;
    for round in 0..16usize {
        let never = Arc::new(AtomicBool::new(false));
        let (ledger, mut rx, start, threads) = spawn_senders(SENDERS, PER, &never);
        let received = Arc::new(AtomicUsize::new(0));
        let got = received.clone();
        tern::block_on(async move {
            let (enough_tx, enough_rx) = tern::sync::oneshot::channel();
            tern::spawn(async move {
                let mut order = Order::new(SENDERS);
                let mut enough = Some(enough_tx);
                while let Some(m) = rx.recv().await {
                    order.take(m);
                    got.fetch_add(1, SeqCst);
                    if got.load(SeqCst) == 1 + round * 97 {
                        let _ = enough.take().map(|e| e.send(()));
                    }
                }
            });
            start.wait();
            let _ = enough_rx.await;
        });
        let mut accepted = 0;
        for (k, t) in threads.into_iter().enumerate() {
            let (ok, failed) = t.join().unwrap();
            assert!(
                failed || ok == PER,
                "round {round}: sender {k} neither finished nor saw the receiver go"
            );
            raced += usize::from(failed);
            accepted += ok;
        }
        ledger.assert_each_dropped_once();
        assert_eq!(
            accepted,
            received.load(SeqCst) + ledger.by_channel.load(SeqCst),
            "round {round}"
        );
    }
    // Each round's receiver takes at most 1,456 of 150,000 messages, so
    // nearly every sender is cut off; none being cut off means the
    // runtime's end never closed the channel.
    assert!(
        raced >= 16 * SENDERS / 2,
        "only {raced} senders saw the receiver go"
    );
}

#[tern::test]
async fn unbounded_order_and_len_across_blocks() {
    // Fills and drains across many block boundaries (a block holds 31),
    // so emptied blocks come back as spares and are filled again.
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut next_out = 0u32;
    let mut next_in = 0u32;
    for n in [0usize, 1, 30, 31, 32, 62, 63, 64, 100, 31, 1, 500, 93] {
        for _ in 0..n {
            tx.send(next_in.to_string()).unwrap();
            next_in += 1;
        }
        assert_eq!(rx.len(), n);
        // Half by recv, half by try_recv, sending one more every 5th.
        let mut left = n;
        while left > 0 {
            let v = if left % 2 == 0 {
                rx.recv().await
            } else {
                rx.try_recv().ok()
            };
            assert_eq!(v, Some(next_out.to_string()));
            next_out += 1;
            left -= 1;
            if next_out % 5 == 4 && left > 0 {
                tx.send(next_in.to_string()).unwrap();
                next_in += 1;
                left += 1;
            }
            assert_eq!(rx.len(), left);
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty());
    }
    // A receiver parked on an empty channel is woken by the last sender's
    // drop and sees the end.
    let end = tern::spawn(async move { rx.recv().await });
    tern::yield_now().await;
    drop(tx);
    assert_eq!(end.await.unwrap(), None);
}

/// A waker that counts its wakes.
struct CountWakes(AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (std::task::Waker, Arc<CountWakes>) {
    let count = Arc::new(CountWakes(AtomicUsize::new(0)));
    (std::task::Waker::from(count.clone()), count)
}

/// Polls `fut` once with `waker`.
fn poll_with<F: std::future::Future>(
    fut: std::pin::Pin<&mut F>,
    waker: &std::task::Waker,
) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(waker))
}

#[test]
fn unbounded_cancelled_park_then_new_recv_gets_the_wake() {
    // A recv parks on its slot and is dropped; the next recv (another
    // waker) finds the slot still `PARKED`: the send must wake the new
    // waker, not the stale one. Over two block boundaries, so that slots
    // of reused blocks are parked on too.
    use std::pin::pin;
    use std::task::Poll;
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    for i in 0..70u32 {
        let (old, old_wakes) = counting_waker();
        let (new, new_wakes) = counting_waker();
        {
            let fut = pin!(rx.recv());
            assert!(poll_with(fut, &old).is_pending(), "message {i}");
        }
        let mut fut = pin!(rx.recv());
        assert!(poll_with(fut.as_mut(), &new).is_pending(), "message {i}");
        tx.send(i).unwrap();
        assert_eq!(new_wakes.0.load(SeqCst), 1, "message {i}: new waker");
        assert_eq!(old_wakes.0.load(SeqCst), 0, "message {i}: stale waker");
        assert_eq!(poll_with(fut, &new), Poll::Ready(Some(i)));
    }
    // Parked with a cancelled recv behind it: the last sender's drop wakes
    // the current waker and the end is seen.
    let (old, _) = counting_waker();
    assert!(poll_with(pin!(rx.recv()), &old).is_pending());
    let (new, new_wakes) = counting_waker();
    let mut fut = pin!(rx.recv());
    assert!(poll_with(fut.as_mut(), &new).is_pending());
    drop(tx);
    assert_eq!(new_wakes.0.load(SeqCst), 1);
    assert_eq!(poll_with(fut, &new), Poll::Ready(None));
}

/// A message whose drop panics when told to, counting its drops.
struct PanicOnDrop {
    id: usize,
    panics: bool,
    drops: Arc<Vec<AtomicU32>>,
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, SeqCst);
        if self.panics {
            panic!("message {} panics on drop (planted)", self.id);
        }
    }
}

#[test]
fn unbounded_receiver_drop_drops_every_message_when_one_panics() {
    // Messages 5 and 40 (the second block) panic when dropped. The
    // receiver's drop must still drop every buffered message, as a
    // `VecDeque` does, and not leave them to the last sender (or leak).
    const N: usize = 100;
    let drops: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
    let (tx, rx) = mpsc::unbounded_channel::<PanicOnDrop>();
    for id in 0..N {
        let panics = id == 5 || id == 40;
        let m = PanicOnDrop {
            id,
            panics,
            drops: drops.clone(),
        };
        assert!(tx.send(m).is_ok());
    }
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rx)));
    assert!(dropped.is_err(), "the message's panic goes on");
    assert!(tx.is_closed());
    let by_rx: Vec<u32> = drops.iter().map(|d| d.load(SeqCst)).collect();
    // Whatever the receiver left, the last sender's drop (a panic there is
    // caught, so that a failure is reported rather than aborting).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(tx)));
    for (id, d) in by_rx.iter().enumerate() {
        assert_eq!(*d, 1, "message {id}: drops by the receiver's drop");
    }
    for (id, d) in drops.iter().enumerate() {
        assert_eq!(d.load(SeqCst), 1, "message {id}: drops in all");
    }
}

#[test]
fn unbounded_receiver_dropped_by_a_panic_with_a_panicking_message() {
    // The receiver is dropped while its thread unwinds; a message's drop
    // panics in it. Every message is still dropped, and the process goes
    // on (a second unwind out of the drop would abort it).
    const N: usize = 40;
    let drops: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
    let (tx, rx) = mpsc::unbounded_channel::<PanicOnDrop>();
    for id in 0..N {
        let m = PanicOnDrop {
            id,
            panics: id == 3,
            drops: drops.clone(),
        };
        assert!(tx.send(m).is_ok());
    }
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _rx = rx;
        panic!("the receiver's owner panics (planted)");
    }));
    let payload = unwound.expect_err("the owner panicked");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the receiver's owner panics (planted)"),
        "the first panic goes on"
    );
    for (id, d) in drops.iter().enumerate() {
        assert_eq!(d.load(SeqCst), 1, "message {id}");
    }
    assert!(tx.is_closed());
}

/// Drops of [`Zst`] messages.
static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);

struct Zst;

impl Drop for Zst {
    fn drop(&mut self) {
        ZST_DROPS.fetch_add(1, SeqCst);
    }
}

#[test]
fn unbounded_zero_sized_messages_across_blocks_and_receiver_drop() {
    const SENDERS: usize = 3;
    const PER: usize = 2_000;
    let mut dropped_before = 0;
    for round in 0..8usize {
        let (tx, mut rx) = mpsc::unbounded_channel::<Zst>();
        let start = Arc::new(Barrier::new(SENDERS + 1));
        let threads: Vec<_> = (0..SENDERS)
            .map(|_| {
                let (tx, start) = (tx.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let mut ok = 0;
                    for _ in 0..PER {
                        match tx.send(Zst) {
                            Ok(()) => ok += 1,
                            Err(SendError(z)) => drop(z),
                        }
                    }
                    ok
                })
            })
            .collect();
        drop(tx);
        start.wait();
        let keep = round * 700;
        let mut received = 0;
        while received < keep {
            match rx.blocking_recv() {
                Some(z) => drop(z),
                None => break,
            }
            received += 1;
        }
        drop(rx);
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let failed = SENDERS * PER - accepted;
        let drops = ZST_DROPS.load(SeqCst) - dropped_before;
        dropped_before += drops;
        assert_eq!(drops, SENDERS * PER, "round {round}: {failed} failed sends");
    }
}

#[test]
fn unbounded_receiver_moves_between_threads_and_sees_the_end() {
    // Two senders, one slow (it yields between its claim and its write
    // under `tern_widen_races`), each sends a few messages and drops; the
    // receiver parks with blocking_recv, sometimes leaves a cancelled
    // park behind, and moves to a new thread every few messages. It must
    // get every message in order and then `None`, and never hang (a
    // watchdog turns a hang into a failure).
    const PER: usize = 40;
    for round in 0..200usize {
        let (tx, rx) = mpsc::unbounded_channel::<(usize, usize)>();
        let senders: Vec<_> = (0..2)
            .map(|k| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for seq in 0..PER {
                        tx.send((k, seq)).unwrap();
                        if (seq + k) % 9 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut rx = rx;
            let mut next = [0usize; 2];
            loop {
                // A cancelled park now and then.
                if (next[0] + next[1] + round) % 5 == 0 {
                    let (w, _) = counting_waker();
                    if let std::task::Poll::Ready(v) = poll_with(std::pin::pin!(rx.recv()), &w) {
                        match v {
                            Some((k, seq)) => {
                                assert_eq!(seq, next[k]);
                                next[k] += 1;
                                continue;
                            }
                            None => break,
                        }
                    }
                }
                // Moves to another thread after every 7 messages.
                let mut got = 0;
                let (hand_tx, hand_rx) = std::sync::mpsc::channel();
                let t = std::thread::spawn(move || {
                    let mut end = false;
                    while got < 7 {
                        match rx.blocking_recv() {
                            Some(m) => hand_tx.send(m).unwrap(),
                            None => {
                                end = true;
                                break;
                            }
                        }
                        got += 1;
                    }
                    (rx, end)
                });
                let (back, end) = t.join().unwrap();
                rx = back;
                for (k, seq) in hand_rx.try_iter() {
                    assert_eq!(seq, next[k], "round {round}: sender {k}");
                    next[k] += 1;
                }
                if end {
                    break;
                }
            }
            done_tx.send(next).unwrap();
        });
        let next = done_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("round {round}: the receiver hung (or panicked)"));
        assert_eq!(next, [PER; 2], "round {round}");
        for s in senders {
            s.join().unwrap();
        }
    }
}

#[test]
fn unbounded_len_counts_messages_being_written_and_try_recv_takes_them() {
    // `len()` counts claimed slots, some still being written (under
    // `tern_widen_races` often): each of them must then come out of
    // `try_recv` (which waits for the write), never `Empty`, in order.
    const SENDERS: usize = 3;
    const PER: usize = 20_000;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, usize)>();
    let threads: Vec<_> = (0..SENDERS)
        .map(|k| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for seq in 0..PER {
                    tx.send((k, seq)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0usize; SENDERS];
    'outer: loop {
        let n = rx.len();
        // Only senders run meanwhile: the count can only grow.
        assert!(n == 0 || !rx.is_empty());
        if n == 0 {
            match rx.try_recv() {
                Ok((k, seq)) => {
                    assert_eq!(seq, next[k]);
                    next[k] += 1;
                }
                Err(TryRecvError::Empty) => std::thread::yield_now(),
                Err(TryRecvError::Disconnected) => break 'outer,
                Err(e) => panic!("{e}"),
            }
            continue;
        }
        for i in 0..n {
            match rx.try_recv() {
                Ok((k, seq)) => {
                    assert_eq!(seq, next[k], "sender {k}");
                    next[k] += 1;
                }
                Err(e) => panic!("message {i} of {n} counted by len(): {e:?}"),
            }
        }
    }
    assert_eq!(next, [PER; SENDERS]);
    for t in threads {
        t.join().unwrap();
    }
}
