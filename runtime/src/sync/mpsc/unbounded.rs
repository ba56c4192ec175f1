//! The unbounded channel ([`unbounded_channel`]): a lock-free list of
//! blocks, so a sender on another thread never takes a lock the receiver
//! holds, and wakes the receiver only when it is parked.
//!
//! # Implementation
//!
//! Messages live in a linked list of blocks of `BLOCK_CAP` slots (the
//! layout of crossbeam's list channel, reduced to one consumer). Every
//! slot has a *position*; a block spans `LAP` positions, its slots and
//! one *boundary* position that no message takes. One word, `tail`, holds
//! the next position to claim (shifted left by `SHIFT`) and the `CLOSED`
//! flag (the receiver closed the channel or is gone). Each slot has a
//! state: `EMPTY`, `PARKED` (the receiver waits for this very message) or
//! `WRITTEN`.
//!
//! A send is two read-modify-writes: a compare-and-swap on `tail` claims
//! the position, the value is written into the slot, and a swap sets the
//! slot `WRITTEN`, which hands the value over (release) and tells in the
//! same step whether the receiver parked on it. Only that sender wakes
//! the receiver, so a burst wakes it once, and not again until it has run
//! and parked anew. A send that finds `CLOSED` gives its value back; as
//! the CAS fails once `CLOSED` is set, the last position claimed before
//! it is final.
//!
//! The sender that claims a block's last slot installs the next block
//! (allocated before its CAS, so nothing can fail in between) before it
//! writes its value: it moves `tail_block` and then `tail` over the
//! boundary, and links `next`. Senders that see the boundary wait for
//! that (a few instructions). A sender dereferences a block only after
//! its CAS succeeded, and then the block holds its slot; `tail_block` is
//! stored before `tail` leaves the boundary, so a sender that read a
//! `tail` inside block B and then `tail_block` gets B, or a later block
//! and a CAS that fails.
//!
//! The receiver alone owns the head (`Head`: a position and its block)
//! and reads slots in order without a lock and without touching `tail`:
//! it takes a slot once it is `WRITTEN`. After a block's last slot it
//! follows `next` (set before that slot was written) and retires the
//! block: no sender can still touch it, since every slot of it was
//! written. One retired block is kept as a spare for the next sender that
//! installs a block.
//!
//! With the head slot not written (nothing sent yet, or a sender between
//! its claim and its write), the receiver stores its waker (a mutex,
//! touched once per park and per wake) and moves the slot from `EMPTY` to
//! `PARKED` with a CAS; if the slot became `WRITTEN` meanwhile it takes
//! the message instead. Never spinning there, a receiver that keeps up
//! with a sender on another core does not pull the sender's cache lines
//! message by message: it parks, and the sender's wake costs one swap it
//! makes anyway. `try_recv` and `Drop` must tell *empty* from *being
//! written*, so they read `tail` and wait (spin, then yield the thread)
//! for a claimed slot's few remaining instructions.
//!
//! The end of the channel: `CLOSED` with the head at the final position,
//! or no sender left (the count's acquire makes every send visible) and
//! the head slot not written. The receiver sets `rx_waits` before it
//! reads the count; the last sender drops the count before it reads
//! `rx_waits` (all `SeqCst`): one of them sees the other, so the receiver
//! either sees the end or is woken.
//!
//! The receiver's drop closes the channel and drops every message
//! claimed before that (waiting for writes in progress), so after it
//! returns no message is left: a message whose `Drop` panics does not
//! stop the others, and the first panic goes on once all are dropped
//! (unless the thread is unwinding already).
//! The last handle to go frees the blocks.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, RefUnwindSafe};
use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::{SendError, TryRecvError};

/// Message slots per block.
const BLOCK_CAP: usize = 31;
/// Positions per block: its slots and the boundary.
const LAP: usize = BLOCK_CAP + 1;
/// `tail` flag: sends fail.
const CLOSED: usize = 1;
/// `tail` holds the position shifted past the flag.
const SHIFT: usize = 1;
/// Spins waiting for another thread's few instructions before yielding.
const SPINS: u32 = 128;

/// Slot state: no message yet.
const EMPTY: u8 = 0;
/// Slot state: the message is in the slot.
const WRITTEN: u8 = 1;
/// Slot state: no message yet, and the receiver waits for this one.
const PARKED: u8 = 2;

/// Creates a channel without a bound: sends never wait.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let block = Block::alloc();
    let chan = Arc::new(Chan {
        tx: CacheLine(TxSide {
            tail: AtomicUsize::new(0),
            tail_block: AtomicPtr::new(block),
        }),
        rx: CacheLine(UnsafeCell::new(Head {
            pos: 0,
            block,
            closed: false,
        })),
        senders: AtomicUsize::new(1),
        rx_waits: AtomicBool::new(false),
        rx_waker: Mutex::new(None),
        spare: AtomicPtr::new(ptr::null_mut()),
    });
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver { chan },
    )
}

// ===== blocks =====

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    /// `EMPTY`, `PARKED` or `WRITTEN` (module docs).
    state: AtomicU8,
}

struct Block<T> {
    /// The next block, set before this block's last slot is written.
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    fn alloc() -> *mut Block<T> {
        let layout = Layout::new::<Block<T>>();
        // SAFETY: the layout is not zero-sized (`next` is a pointer), and
        // all-zero bytes are a valid `Block`: a null `next`, every state
        // `EMPTY`, and values that are `MaybeUninit`. Allocated with the
        // global allocator and `Block`'s layout, as `Box` does, so `free`
        // may take it back as a `Box`.
        let block = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Block<T>>();
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        block
    }

    /// Frees `block`, which holds no message.
    ///
    /// # Safety
    /// `block` came from [`Block::alloc`] and nobody else uses it.
    unsafe fn free(block: *mut Block<T>) {
        // SAFETY: by the contract; the values are `MaybeUninit`, so no
        // message is dropped.
        drop(unsafe { Box::from_raw(block) });
    }
}

/// Position `pos` counted in messages (boundaries left out).
fn messages_before(pos: usize) -> usize {
    pos / LAP * BLOCK_CAP + (pos % LAP).min(BLOCK_CAP)
}

// ===== the channel =====

/// Keeps what the senders write and what the receiver writes on separate
/// cache lines (64 bytes: 128, as tokio pads for the adjacent-line
/// prefetcher, measured no faster here and costs 256 bytes a channel).
#[repr(align(64))]
struct CacheLine<T>(T);

struct TxSide<T> {
    /// Next position to claim `<< SHIFT`, `| CLOSED`.
    tail: AtomicUsize,
    /// The block holding `tail`'s position (module docs).
    tail_block: AtomicPtr<Block<T>>,
}

/// The receiver's place: the next position to read and its block.
struct Head<T> {
    pos: usize,
    block: *mut Block<T>,
    /// The receiver set `CLOSED`.
    closed: bool,
}

struct Chan<T> {
    tx: CacheLine<TxSide<T>>,
    /// Touched only by the one receiver, and by `Drop`.
    rx: CacheLine<UnsafeCell<Head<T>>>,
    senders: AtomicUsize,
    /// The receiver has parked at least once: the last sender's drop wakes
    /// it.
    rx_waits: AtomicBool,
    /// The receiver's waker while it may park; kept when a sender wakes
    /// it, so a sender that saw `PARKED` always finds the latest.
    rx_waker: Mutex<Option<Waker>>,
    /// A retired block for the next sender that installs one, or null.
    spare: AtomicPtr<Block<T>>,
}

// SAFETY: messages move from the senders' threads to the receiver's: a slot
// is handed over by its state (`WRITTEN`, release/acquire) and written once
// per use; the head is touched only by the single receiver (through
// `&mut UnboundedReceiver`, or `&` for reads alone) and by `Drop`. So a
// `Chan` shared between threads needs only `T: Send`.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

// A panic can only come from a message's `Drop` or a waker, after the head
// has moved past that message: the list stays consistent (as with the
// `std::sync::Mutex` of the bounded channel).
impl<T> RefUnwindSafe for Chan<T> {}

impl<T> Chan<T> {
    fn tail(&self) -> &AtomicUsize {
        &self.tx.0.tail
    }

    /// The receiver's head.
    ///
    /// # Safety
    /// Only the receiver calls this, and holds no other reference from it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn head(&self) -> &mut Head<T> {
        // SAFETY: by the contract, this is the only reference to the head.
        unsafe { &mut *self.rx.0.get() }
    }

    fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut next_block: *mut Block<T> = ptr::null_mut();
        let mut spins = 0u32;
        let mut tail = self.tail().load(Acquire);
        loop {
            if tail & CLOSED != 0 {
                if !next_block.is_null() {
                    // SAFETY: ours alone, never linked.
                    unsafe { Block::free(next_block) };
                }
                return Err(SendError(value));
            }
            let pos = tail >> SHIFT;
            let offset = pos % LAP;
            if offset == BLOCK_CAP {
                // The sender of the block's last slot is installing the
                // next block.
                backoff(&mut spins);
                tail = self.tail().load(Acquire);
                continue;
            }
            if offset + 1 == BLOCK_CAP && next_block.is_null() {
                next_block = self.take_block();
            }
            let block = self.tx.0.tail_block.load(Acquire);
            // Claims `pos`; fails if anything changed.
            match self
                .tail()
                .compare_exchange_weak(tail, (pos + 1) << SHIFT, AcqRel, Acquire)
            {
                Ok(_) => {
                    // The race tests build with `--cfg tern_widen_races`:
                    // some claimed slots then stay unwritten for a while,
                    // so receivers (and their drops) meet slots being
                    // written every time.
                    #[cfg(tern_widen_races)]
                    if pos % 4 == 1 || offset + 1 == BLOCK_CAP {
                        std::thread::yield_now();
                    }
                    if offset + 1 == BLOCK_CAP {
                        self.tx.0.tail_block.store(next_block, Release);
                        // Over the boundary, keeping `CLOSED` if it came.
                        self.tail().fetch_add(1 << SHIFT, Release);
                        // SAFETY: `block` holds our unwritten slot, so the
                        // receiver has not retired it (module docs).
                        unsafe { (*block).next.store(next_block, Release) };
                    }
                    if offset + 1 != BLOCK_CAP && !next_block.is_null() {
                        // Made for a last slot another sender took.
                        self.keep_spare(next_block);
                    }
                    // SAFETY: the CAS gave us slot `offset` of `block`
                    // (module docs): nobody else writes its value, and the
                    // receiver reads it only once `state` is `WRITTEN`,
                    // which we set last, with our last touch of the block.
                    let prev = unsafe {
                        let slot = &(*block).slots[offset];
                        slot.value.get().write(MaybeUninit::new(value));
                        slot.state.swap(WRITTEN, AcqRel)
                    };
                    if prev == PARKED {
                        self.wake_rx();
                    }
                    return Ok(());
                }
                Err(now) => tail = now,
            }
        }
    }

    /// A block to install: the spare, or a new one.
    fn take_block(&self) -> *mut Block<T> {
        let spare = self.spare.swap(ptr::null_mut(), Acquire);
        if spare.is_null() {
            Block::alloc()
        } else {
            spare
        }
    }

    fn lock_waker(&self) -> MutexGuard<'_, Option<Waker>> {
        self.rx_waker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the receiver (it parked on our slot, or we are the last
    /// sender).
    fn wake_rx(&self) {
        let waker = self.lock_waker().clone();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn add_sender(&self) {
        self.senders.fetch_add(1, SeqCst);
    }

    fn drop_sender(&self) {
        if self.senders.fetch_sub(1, SeqCst) == 1 && self.rx_waits.load(SeqCst) {
            self.wake_rx();
        }
    }

    fn is_closed(&self) -> bool {
        self.tail().load(Acquire) & CLOSED != 0
    }

    fn close(&self, head: &mut Head<T>) {
        self.tail().fetch_or(CLOSED, SeqCst);
        head.closed = true;
    }

    /// Takes the head message if it is written.
    #[inline]
    fn pop(&self, head: &mut Head<T>) -> Option<T> {
        let offset = head.pos % LAP;
        // SAFETY: the head block is live: it is retired only below, by the
        // receiver, after its last slot.
        let slot = unsafe { &(*head.block).slots[offset] };
        if slot.state.load(Acquire) != WRITTEN {
            return None;
        }
        // SAFETY: `WRITTEN` (acquire) says the sender wrote the value and
        // never touches it again; the head moves past it, so it is read once.
        let value = unsafe { slot.value.get().read().assume_init() };
        if offset + 1 == BLOCK_CAP {
            let block = head.block;
            // SAFETY: as above; `next` was set before the last slot was
            // written, so it is not null.
            head.block = unsafe { (*block).next.load(Acquire) };
            head.pos += 2;
            self.retire(block);
        } else {
            head.pos += 1;
        }
        Some(value)
    }

    /// Keeps an emptied block as the spare, or frees it.
    fn retire(&self, block: *mut Block<T>) {
        // SAFETY: every slot of `block` was written and read, so no sender
        // touches it again (module docs); the receiver has left it.
        unsafe {
            (*block).next.store(ptr::null_mut(), Relaxed);
            for slot in &(*block).slots {
                slot.state.store(EMPTY, Relaxed);
            }
        }
        self.keep_spare(block);
    }

    /// Keeps `block` (empty, reset, linked nowhere, ours alone) as the
    /// spare, or frees it if there is one.
    fn keep_spare(&self, block: *mut Block<T>) {
        if self
            .spare
            .compare_exchange(ptr::null_mut(), block, Release, Relaxed)
            .is_err()
        {
            // SAFETY: by the contract above.
            unsafe { Block::free(block) };
        }
    }

    /// Waits until the head slot, claimed by a sender, is written: spins,
    /// then yields the thread.
    fn wait_written(&self, head: &Head<T>) {
        let mut spins = 0u32;
        // SAFETY: the head block is live (see `pop`).
        let slot = unsafe { &(*head.block).slots[head.pos % LAP] };
        while slot.state.load(Acquire) != WRITTEN {
            backoff(&mut spins);
        }
    }

    /// The receiver's poll once `pop` found the head slot not written.
    #[cold]
    fn poll_recv_slow(&self, head: &mut Head<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if head.closed && self.tail().load(Acquire) >> SHIFT == head.pos {
            // Closed, and every message claimed before is taken.
            return Poll::Ready(None);
        }
        // The waker is in place before the slot says `PARKED`, for the
        // sender that reads `PARKED` (or, on a poll while parked, before we
        // look at the slot again: a sender that wrote before it could see
        // the new waker made `WRITTEN` visible to us).
        self.register(cx.waker());
        if !self.rx_waits.load(Relaxed) {
            self.rx_waits.store(true, SeqCst);
        }
        // SAFETY: the head block is live (see `pop`).
        let slot = unsafe { &(*head.block).slots[head.pos % LAP] };
        if slot.state.compare_exchange(EMPTY, PARKED, AcqRel, Acquire) == Err(WRITTEN) {
            return Poll::Ready(self.pop(head));
        }
        // `rx_waits` was set before this load, and the last sender drops
        // the count before it reads `rx_waits` (all `SeqCst`): if the count
        // is not 0 here, that sender will wake us.
        if self.senders.load(SeqCst) == 0 {
            // Every send happened before (the count's acquire): the head
            // slot is written, or nothing more will come.
            return Poll::Ready(self.pop(head));
        }
        Poll::Pending
    }

    /// Keeps `waker` for the senders; an older one is dropped unlocked.
    fn register(&self, waker: &Waker) {
        let mut slot = self.lock_waker();
        if slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return;
        }
        let old = slot.replace(waker.clone());
        drop(slot);
        drop(old);
    }

    fn try_recv(&self, head: &mut Head<T>) -> Result<T, TryRecvError> {
        loop {
            if let Some(v) = self.pop(head) {
                return Ok(v);
            }
            if self.tail().load(Acquire) >> SHIFT != head.pos {
                // Claimed, being written.
                self.wait_written(head);
                continue;
            }
            if head.closed {
                return Err(TryRecvError::Disconnected);
            }
            if self.senders.load(SeqCst) == 0 {
                return self.pop(head).ok_or(TryRecvError::Disconnected);
            }
            return Err(TryRecvError::Empty);
        }
    }

    fn len(&self, head: &Head<T>) -> usize {
        messages_before(self.tail().load(Acquire) >> SHIFT) - messages_before(head.pos)
    }
}

impl<T> Drop for Chan<T> {
    fn drop(&mut self) {
        let head = self.rx.0.get_mut();
        let mut block = head.block;
        // The receiver's drop took every message (even when one's `Drop`
        // panicked); this loop frees the blocks, and would drop a message
        // only if that were not so.
        let tail = *self.tx.0.tail.get_mut() >> SHIFT;
        let mut pos = head.pos;
        while pos < tail {
            let offset = pos % LAP;
            // SAFETY: no other handle is left; blocks from the head on are
            // live, and a `WRITTEN` slot holds an unread message.
            unsafe {
                let slot = &(*block).slots[offset];
                if slot.state.load(Relaxed) == WRITTEN {
                    drop(slot.value.get().read().assume_init());
                }
                if offset + 1 == BLOCK_CAP {
                    let next = (*block).next.load(Relaxed);
                    Block::free(block);
                    block = next;
                    pos += 1;
                }
            }
            pos += 1;
        }
        while !block.is_null() {
            // SAFETY: the rest of the list, empty and unshared.
            unsafe {
                let next = (*block).next.load(Relaxed);
                Block::free(block);
                block = next;
            }
        }
        let spare = *self.spare.get_mut();
        if !spare.is_null() {
            // SAFETY: the spare is linked nowhere and empty.
            unsafe { Block::free(spare) };
        }
    }
}

/// Spins, then yields the thread, while another thread finishes a few
/// instructions.
fn backoff(spins: &mut u32) {
    if *spins < SPINS {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

// ===== impl UnboundedSender =====

/// The sending half of an unbounded channel; cheap to clone.
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once; fails (giving it back) once the receiver is
    /// gone or closed the channel.
    #[inline]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.send(value)
    }

    /// Whether the receiver is gone or closed the channel.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> UnboundedSender<T> {
        self.chan.add_sender();
        UnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

// ===== impl UnboundedReceiver =====

/// The receiving half of an unbounded channel.
pub struct UnboundedReceiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> UnboundedReceiver<T> {
    /// The next message; `None` once the buffer is empty and every sender
    /// is gone (or the channel was closed). Cancel-safe.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message.
    #[inline]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // A receiver whose channel always has messages yields like a task
        // whose I/O is always ready (the cooperative budget).
        std::task::ready!(crate::context::poll_budget(cx));
        // SAFETY: `&mut self`: we are the receiver, and `head` is dropped
        // before we return.
        let head = unsafe { self.chan.head() };
        if let Some(v) = self.chan.pop(head) {
            crate::context::spend();
            return Poll::Ready(Some(v));
        }
        crate::context::charge(self.chan.poll_recv_slow(head, cx))
    }

    /// Receives from a thread outside any runtime, parking the thread until
    /// a message comes or every sender is gone.
    ///
    /// # Panics
    /// Inside a tern runtime.
    pub fn blocking_recv(&mut self) -> Option<T> {
        super::super::park::wait("mpsc::UnboundedReceiver::blocking_recv", self.recv())
    }

    /// Takes a message if one is buffered.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        // SAFETY: as in `poll_recv`.
        let head = unsafe { self.chan.head() };
        self.chan.try_recv(head)
    }

    /// Closes the channel; buffered messages can still be received.
    pub fn close(&mut self) {
        // SAFETY: as in `poll_recv`.
        let head = unsafe { self.chan.head() };
        self.chan.close(head)
    }

    /// Messages buffered now.
    pub fn len(&self) -> usize {
        // SAFETY: `&self` excludes the `&mut self` methods, the only ones
        // that write the head.
        let head = unsafe { &*self.chan.rx.0.get() };
        self.chan.len(head)
    }

    /// Whether no message is buffered now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        // SAFETY: as in `poll_recv`.
        self.chan.close(unsafe { self.chan.head() });
        let panic = self.chan.drop_messages();
        let waker = self.chan.lock_waker().take();
        drop(waker);
        // Unwinding already (the receiver dropped by a panic), a second
        // unwind out of a drop would abort: the message's panic, reported
        // by the hook, gives way to the first one.
        if let Some(payload) = panic.filter(|_| !std::thread::panicking()) {
            std::panic::resume_unwind(payload);
        }
    }
}

impl<T> Chan<T> {
    /// The receiver's drop, once `CLOSED` fixed the last position: drops
    /// every message up to it, waiting for the writes in progress. Each
    /// value is taken (the head moved past it) before it is dropped, with
    /// no lock held. A message whose `Drop` panics does not stop the
    /// others from being dropped (none is left to the last sender); the
    /// first panic is returned, to go on once all are dropped.
    fn drop_messages(&self) -> Option<Box<dyn std::any::Any + Send>> {
        let mut panic = None;
        loop {
            // SAFETY: called only by the receiver's drop; renewed each
            // round because a message's drop may run any code (not the
            // receiver's).
            let head = unsafe { self.head() };
            if let Some(v) = self.pop(head) {
                // The value is ours alone and gone after this, and the
                // channel is consistent (the head moved past it): nothing
                // broken can be seen after a panic.
                let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| drop(v)));
                if let Err(payload) = dropped {
                    panic.get_or_insert(payload);
                }
                continue;
            }
            if self.tail().load(Acquire) >> SHIFT == head.pos {
                return panic;
            }
            self.wait_written(head);
        }
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedReceiver")
            .field("len", &self.len())
            .finish()
    }
}
