//! UDP channels: the sockets queries to one server go out on, shared by
//! the queries in flight, moved to a new random source port after
//! `Config::udp_max_queries` queries.
//!
//! A channel is one UDP socket. Its first send binds it to a random
//! ephemeral port (the kernel picks it, as for `connect`); once the port
//! has carried `udp_max_queries` queries and none is left in flight,
//! [`UdpSocket::release_port`] gives the port back (`connect(AF_UNSPEC)`,
//! one syscall) and the next send picks a new one. So with the default of
//! 1 every query leaves from a fresh random port without a new socket or
//! epoll registration, and with 0 one socket per server carries every
//! query, as c-ares does by default. A port for one query is bound by its
//! `sendto`; a port for more is connected to the server first, so its
//! sends need no route lookup (see [`Channel::flush`]).
//!
//! Queries in flight on one channel have distinct random IDs. A datagram
//! counts only if it comes from the server's address and port, carries the
//! ID of a query in flight and echoes its question (`validate_asked`,
//! which accepts what [`crate::exchange::validate_reply`] accepts, with
//! the question compared on the wire) and its DNS cookie, if it sent one;
//! anything else is dropped and the wait goes on. ICMP errors reach the
//! channel through `IP_RECVERR`, so a server port nobody listens on fails
//! the channel's queries at once (`ConnectionRefused`) instead of after the
//! timeout; a channel that met an error takes no new queries.
//!
//! # Implementation
//!
//! Queries wait in an outbox until the run queue's other tasks have had
//! their turn: the channel's driver (below) sends them when it runs after
//! those tasks, or, with no driver yet, the first query polled after them
//! (its caller yields once when other tasks are ready), so the queries
//! started in one pass leave in one `sendmmsg`; right after a query's
//! own send the socket is read once without waiting (a server on loopback
//! has often answered by then; the driver's sends are not followed by
//! such a read, it waits for the socket to be readable). A query alone on its channel (always so with
//! the default of 1) then waits for the socket itself. Once two queries
//! share a channel, a query that must wait stores its waker and makes sure
//! the channel's *driver* runs: a task of its own, spawned then and gone
//! when no query is left, that waits for the socket's readiness, reads replies with
//! `recvmmsg` into a per-thread scratch buffer, hands each to the query it
//! answers, and sends what the outbox still holds once the socket is
//! writable again. Because the driver is its own task, a query whose task
//! is busy elsewhere delays nobody else's reply, and a datagram wakes one
//! task, not every query in flight.
//!
//! Wakers are called only outside the borrow of the channel's state, and a
//! ticket dropped while that borrow is held (by code a waker's drop runs,
//! say) is queued and withdrawn at the next poll.
//!
//! A datagram longer than a scratch slot (4 KiB, more than the 1,232 bytes
//! we advertise with EDNS) is cut by the kernel and flagged: it is treated
//! as truncated (TC), so the query is asked again over TCP and gets the
//! whole answer; nothing is cut silently.
//!
//! The pool (`pool.rs`) keeps, per server, every channel and a stack of
//! those with room: a query takes the top one (or opens a channel), and a
//! channel that settles with room again goes back on top, so taking one
//! costs the same with one query in flight or a thousand. A channel that
//! settles while 64 others wait there ([`MAX_IDLE`](pool::MAX_IDLE)), or
//! that is broken, leaves the pool and closes once its last query lets go.
//!
//! A channel belongs to the runtime that made it (its epoll registration).
//! The pool is thread-local and remembers the runtime it was filled in
//! ([`tern_runtime::current_runtime_id`]); the runtime drops its channels
//! as it shuts down ([`tern_runtime::on_shutdown`]), and a pool found
//! filled by another runtime is emptied first.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use slab::Slab;
use tern_net::{RecvMeta, UdpSocket};

use super::transport::next_id;

mod pool;

use crate::error::Error;
use crate::exchange::{check_cookie, validate_asked, Asked};
use crate::name::Name;
use crate::record::RecordType;
use crate::wire::cookie::CLIENT_COOKIE_LEN;
use crate::wire::{encode_query, Message};
pub use pool::close_idle_sockets;
use pool::take;

/// A query's outcome: the reply, boxed (it moves from the channel through
/// the lookup's layers, a pointer instead of 144 bytes each time), or the
/// error that ended the wait.
pub(crate) type Outcome = Result<Box<Message>, Error>;

/// Reply boxes kept per thread for the next replies: a lookup's answer is
/// taken out of its box ([`unbox_reply`]) and the box waits here, so a
/// reply costs no allocation. With many lookups in flight their frees and
/// allocations come in bursts longer than the allocator's per-thread cache
/// holds, and each one took its slow path.
const SPARE_REPLIES: usize = 64;

thread_local! {
    // The boxes themselves are what is kept: `Vec<Message>` would move
    // each reply into and out of the list instead of lending its box.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<Message>>> = const { RefCell::new(Vec::new()) };
}

/// `reply` in a box, a spare one if the thread keeps one.
pub(crate) fn boxed_reply(reply: Message) -> Box<Message> {
    let spare = SPARE.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
    match spare {
        Some(mut spare) => {
            *spare = reply;
            spare
        }
        None => Box::new(reply),
    }
}

/// The reply out of its box, which is kept for the next one (up to
/// [`SPARE_REPLIES`] per thread).
pub(crate) fn unbox_reply(mut boxed: Box<Message>) -> Message {
    let reply = std::mem::take(&mut *boxed);
    SPARE.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < SPARE_REPLIES {
                s.push(boxed);
            }
        }
    });
    reply
}

/// Queries in flight on one channel at most; more open another channel.
const MAX_PENDING: usize = 256;
/// Datagrams moved per `sendmmsg`/`recvmmsg`.
const BATCH: usize = 16;
/// Bytes per receive slot: more than any reply to the EDNS payload we ask.
const SLOT: usize = 4096;
/// Receive batches per poll before the driver lets other tasks run.
const BATCHES_PER_POLL: usize = 8;

/// One socket to one server and the queries in flight on it.
#[derive(Debug)]
pub(crate) struct Channel {
    sock: UdpSocket,
    server: SocketAddr,
    max_queries: u32,
    st: RefCell<State>,
    /// Tickets dropped while `st` was borrowed, to withdraw at the next poll.
    withdrawn: RefCell<Vec<u16>>,
    /// This channel, for the pool's list of channels with room.
    me: Weak<Channel>,
    /// The channel is on that list.
    listed: Cell<bool>,
}

#[derive(Debug, Default)]
struct State {
    /// Queries sent or queued from the current port.
    on_port: u32,
    /// The socket is connected to the server (see [`Channel::flush`]).
    connected: bool,
    /// Queries in flight, each in a slot that does not move.
    pending: Slab<Pending>,
    /// The slot of each query in flight, by ID.
    ids: HashMap<u16, usize, BuildHasherDefault<IdHasher>>,
    /// Encoded queries not sent yet, oldest first, by ID.
    outbox: Vec<(u16, Vec<u8>)>,
    /// Buffers of sent queries, to encode the next ones into.
    spare: Vec<Vec<u8>>,
    /// A driver task runs for this channel.
    driving: bool,
    /// The driver's waker, once it has been polled.
    driver: Option<Waker>,
    /// The socket failed: the channel takes no new queries.
    broken: bool,
    /// A query on the current port was withdrawn before it took an
    /// outcome (its ticket dropped: a timeout, say). Its reply may never
    /// have come because the receive buffer was full (see `settle`).
    abandoned: bool,
    /// Wakers to call once the borrow of this state ends.
    wakes: Vec<Waker>,
}

#[derive(Debug)]
struct Pending {
    query: Asked,
    /// The client cookie the query carried, which a reply must echo.
    sent_client: Option<[u8; CLIENT_COOKIE_LEN]>,
    waker: Option<Waker>,
    got: Option<Outcome>,
}

/// Hashes a query ID, which is random already: one multiply spreads its
/// sixteen bits over the word the table takes its buckets and tags from.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
        self.0 = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl State {
    fn slot(&self, id: u16) -> Option<usize> {
        self.ids.get(&id).copied()
    }

    fn find(&mut self, id: u16) -> Option<&mut Pending> {
        let slot = self.slot(id)?;
        self.pending.get_mut(slot)
    }

    /// Removes query `id` (and its unsent datagram); its query and outcome.
    fn remove(&mut self, id: u16) -> Option<(Asked, Option<Outcome>)> {
        let slot = self.ids.remove(&id)?;
        let p = self.pending.try_remove(slot)?;
        if let Some(at) = self.outbox.iter().position(|(i, _)| *i == id) {
            self.outbox.remove(at);
        }
        Some((p.query, p.got))
    }

    /// Gives query `id` its outcome; its waker is called after the borrow.
    fn deliver(&mut self, id: u16, outcome: Outcome) {
        if let Some(p) = self.find(id) {
            p.got = Some(outcome);
            if let Some(w) = p.waker.take() {
                self.wakes.push(w);
            }
        }
    }

    /// Every query in flight has its outcome.
    fn all_answered(&self) -> bool {
        self.pending.iter().all(|(_, p)| p.got.is_some())
    }

    /// Fails every query in flight with `err`: the socket is unusable.
    fn fail_all(&mut self, server: SocketAddr, err: &io::Error) {
        self.broken = true;
        self.outbox.clear();
        for (_, p) in &mut self.pending {
            if p.got.is_none() {
                let e = io::Error::new(err.kind(), format!("{server}: {err}"));
                p.got = Some(Err(Error::Io(e)));
                if let Some(w) = p.waker.take() {
                    self.wakes.push(w);
                }
            }
        }
    }

    /// Has the driver run again (to send, or to see it is no longer needed).
    fn nudge_driver(&mut self) {
        if let Some(w) = self.driver.take() {
            self.wakes.push(w);
        }
    }
}

/// A query registered on a channel; dropping it withdraws the query.
#[derive(Debug)]
pub(crate) struct Ticket {
    chan: Rc<Channel>,
    id: u16,
    /// The outcome has been taken; nothing left to withdraw.
    done: bool,
}

/// What a query asks: the name (in the case to send), the type, and the
/// EDNS payload to offer with the EDNS option to add, if it has an OPT
/// record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Question<'a> {
    pub(crate) name: &'a Name,
    pub(crate) qtype: RecordType,
    pub(crate) edns: Option<(u16, &'a [u8])>,
}

/// Whether a port carries more than one query under `udp_max_queries`
/// (0: every query; 1, the default: a fresh port per query). A shared
/// port is connected to its server ([`Channel::flush`]).
pub(crate) fn port_is_shared(udp_max_queries: u32) -> bool {
    udp_max_queries != 1
}

/// Registers a query of `question` for `server` on a channel with room
/// (see the module docs), with an ID no other query in flight there has.
/// It is sent when the ticket is first polled.
pub(crate) fn start(
    server: SocketAddr,
    max_queries: u32,
    question: Question<'_>,
    sent_client: Option<[u8; CLIENT_COOKIE_LEN]>,
) -> Result<Ticket, Error> {
    let chan = take(server, max_queries)?;
    let id = {
        let mut st = chan.st.borrow_mut();
        // At most MAX_PENDING IDs of 65,536 are taken: a few draws suffice.
        let mut drawn = next_id();
        while matches!(drawn, Ok(id) if st.slot(id).is_some()) {
            drawn = next_id();
        }
        let id = match drawn {
            Ok(id) => id,
            Err(e) => {
                // No query started: the channel goes back to the pool as
                // it came (taking it may have taken it off the list).
                chan.settle(&mut st);
                return Err(e);
            }
        };
        let buf = st.spare.pop().unwrap_or_default();
        let bytes = encode_query(id, question.name, question.qtype, question.edns, buf);
        st.outbox.push((id, bytes));
        let query = Asked {
            id,
            name: question.name.clone(),
            qtype: question.qtype,
            edns: question.edns.is_some(),
        };
        let slot = st.pending.insert(Pending {
            query,
            sent_client,
            waker: None,
            got: None,
        });
        st.ids.insert(id, slot);
        st.on_port = st.on_port.saturating_add(1);
        id
    };
    Ok(Ticket {
        chan,
        id,
        done: false,
    })
}

impl Ticket {
    /// Whether the query should wait for the run queue's other tasks before
    /// its first poll sends it: when any are ready and the channel has no
    /// driver, which would send it after them without the query's task
    /// being polled again (see [`Ticket::poll_exchange`]).
    pub(crate) fn waits_its_turn(&self) -> bool {
        let driven = self.chan.st.try_borrow().is_ok_and(|st| st.driving);
        !driven && tern_runtime::others_ready()
    }

    /// Sends the query if it has not left yet and waits for the reply; the
    /// query and the reply (or the error that ended the wait).
    pub(crate) async fn exchange(mut self) -> (Asked, Outcome) {
        poll_fn(|cx| self.poll_exchange(cx)).await
    }

    fn poll_exchange(&mut self, cx: &mut Context<'_>) -> Poll<(Asked, Outcome)> {
        let chan = Rc::clone(&self.chan);
        let id = self.id;
        let mut st = chan.st.borrow_mut();
        // This task is running: an outcome handed to this query during
        // the poll is seen by `take_done` below, so its waker is kept out
        // until the poll ends (waking it would only poll the task again
        // for nothing).
        let mine = st.find(id).and_then(|p| p.waker.take());
        chan.withdraw_queued(&mut st);
        let mut done = chan.take_done(id, &mut st);
        // With a driver, the outbox is its to send: it runs after the
        // tasks that are ready now, so what they queue leaves in one batch
        // (it is nudged below).
        if done.is_none() && !st.outbox.is_empty() && !st.driving {
            // A failed send may have given this query its outcome too.
            if chan.flush(&mut st, cx) > 0 && early_receive_due() {
                chan.receive_now(&mut st);
            }
            done = chan.take_done(id, &mut st);
        }
        // A query alone on its channel (always so with the default
        // `udp_max_queries = 1`) reads the socket itself: nobody else's
        // reply can wait on its task. A second query brings the driver.
        if done.is_none() && st.pending.len() == 1 && !st.driving {
            chan.receive(&mut st, cx);
            done = chan.take_done(id, &mut st);
        }
        let spawn_driver = done.is_none() && !st.driving && st.pending.len() > 1;
        if done.is_none() {
            if let Some(p) = st.find(id) {
                p.waker = Some(match mine {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                });
            }
            if spawn_driver {
                st.driving = true;
            } else if !st.outbox.is_empty() {
                st.nudge_driver();
            }
        }
        let wakes = std::mem::take(&mut st.wakes);
        drop(st);
        wake_all(&chan, wakes);
        chan.withdraw_late();
        if spawn_driver {
            drop(tern_runtime::spawn(drive(Rc::downgrade(&chan))));
        }
        match done {
            Some(done) => {
                self.done = true;
                Poll::Ready(done)
            }
            None => Poll::Pending,
        }
    }
}

/// The channel's driver: waits for the socket, hands out replies, sends
/// what the outbox holds; ends once no query is in flight, or once the
/// channel itself is gone (it holds the channel weakly, so a channel that
/// nobody uses any more closes its socket at once).
async fn drive(chan: Weak<Channel>) {
    poll_fn(|cx| {
        let Some(chan) = chan.upgrade() else {
            return Poll::Ready(());
        };
        let mut st = chan.st.borrow_mut();
        // Running: nobody needs to wake it until it has looked.
        st.driver = None;
        chan.withdraw_queued(&mut st);
        if !st.pending.is_empty() {
            if !st.outbox.is_empty() {
                chan.flush(&mut st, cx);
            }
            chan.receive(&mut st, cx);
            chan.settle(&mut st);
        }
        let finished = st.pending.is_empty();
        if finished {
            st.driving = false;
        } else {
            st.driver = Some(cx.waker().clone());
        }
        let wakes = std::mem::take(&mut st.wakes);
        drop(st);
        wake_all(&chan, wakes);
        chan.withdraw_late();
        if finished {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Calls `wakes` outside the channel's borrow, then gives the emptied list
/// back for reuse.
fn wake_all(chan: &Channel, mut wakes: Vec<Waker>) {
    if wakes.is_empty() {
        return;
    }
    for w in wakes.drain(..) {
        w.wake();
    }
    if let Ok(mut st) = chan.st.try_borrow_mut() {
        if st.wakes.is_empty() {
            st.wakes = wakes;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let wakes = match self.chan.st.try_borrow_mut() {
            Ok(mut st) => {
                st.abandoned |= st.remove(self.id).is_some();
                self.chan.settle(&mut st);
                std::mem::take(&mut st.wakes)
            }
            Err(_) => {
                // Dropped while the state is borrowed: withdrawn at the next
                // poll of the channel.
                self.chan.withdrawn.borrow_mut().push(self.id);
                return;
            }
        };
        wake_all(&self.chan, wakes);
        self.chan.withdraw_late();
    }
}

impl Channel {
    /// Query `id` and its outcome, if it has one; the channel is settled.
    fn take_done(&self, id: u16, st: &mut State) -> Option<(Asked, Outcome)> {
        if st.find(id).is_none_or(|p| p.got.is_none()) {
            return None;
        }
        let (query, got) = st.remove(id)?;
        self.settle(st);
        got.map(|got| (query, got))
    }

    /// Withdraws the tickets dropped while the state was borrowed.
    fn withdraw_queued(&self, st: &mut State) {
        let Ok(mut queued) = self.withdrawn.try_borrow_mut() else {
            return;
        };
        if queued.is_empty() {
            return;
        }
        // Out of the queue first: a removed query's waker may drop another
        // ticket, which queues itself.
        let ids = std::mem::take(&mut *queued);
        drop(queued);
        for id in ids {
            st.abandoned |= st.remove(id).is_some();
        }
        self.settle(st);
    }

    /// Withdraws the tickets queued while the caller held the state (a
    /// waker it dropped dropped them): nobody may poll the channel again.
    fn withdraw_late(&self) {
        while self.withdrawn.try_borrow().is_ok_and(|q| !q.is_empty()) {
            let Ok(mut st) = self.st.try_borrow_mut() else {
                return; // the holder withdraws them when it lets go
            };
            self.withdraw_queued(&mut st);
            let wakes = std::mem::take(&mut st.wakes);
            drop(st);
            wake_all(self, wakes);
        }
    }

    fn has_room(&self) -> bool {
        let Ok(st) = self.st.try_borrow() else {
            return false;
        };
        !st.broken
            && st.pending.len() < MAX_PENDING
            && (self.max_queries == 0 || st.on_port < self.max_queries)
    }

    /// Whether the channel, which has room, still has room once one more
    /// query has started on it.
    fn room_after_one(&self) -> bool {
        let Ok(st) = self.st.try_borrow() else {
            return false;
        };
        st.pending.len() + 1 < MAX_PENDING
            && (self.max_queries == 0 || st.on_port + 1 < self.max_queries)
    }

    /// After a query left: once none is in flight, the driver is told to
    /// end, the port is released if it has carried its queries, and the
    /// channel, which has room again, goes back on its pool's list of
    /// channels with room (or leaves the pool if it already keeps
    /// [`MAX_IDLE`](pool::MAX_IDLE) of them, or if it is broken).
    fn settle(&self, st: &mut State) {
        if !st.pending.is_empty() {
            return;
        }
        st.nudge_driver();
        if self.max_queries != 0 && st.on_port >= self.max_queries {
            // A port of its own whose query took its outcome: nothing more
            // is expected from it, so readiness goes with it (see
            // `receive_lone`); what is still queued is read past by the
            // next query, woken by its reply's edge. One whose query was
            // withdrawn without its outcome (a timeout) may have met a
            // receive buffer filled behind a reply: the kernel drops
            // replies then and raises no edge, so the datagrams left
            // queued are dropped with the port (`UdpSocket::disconnect`).
            // A shared port's receives read until the queue is seen
            // empty, so its readiness is left as they saw it.
            let released = if !self.one_per_port() {
                self.sock.release_port()
            } else if st.abandoned {
                self.sock.disconnect().map(drop)
            } else {
                self.sock.release_port_idle()
            };
            match released {
                Ok(()) => {
                    st.on_port = 0;
                    st.connected = false;
                }
                Err(_) => st.broken = true,
            }
            st.abandoned = false;
        }
        pool::settled(self, st.broken);
    }

    /// Sends what the outbox holds, in batches; how many datagrams left.
    /// A send that fails fails its query alone, except `ConnectionRefused`:
    /// that is the socket's pending ICMP error (`IP_RECVERR`) for an
    /// earlier datagram to the same server, which the send took, so every
    /// query in flight here fails with it.
    ///
    /// A port that carries more than one query (`udp_max_queries` other
    /// than 1) is connected to the server before its first send, as
    /// c-ares does: the kernel then keeps the route, so each datagram
    /// costs no route lookup (about 300 ns less per send here), and it
    /// drops datagrams from any other source. A fresh port per query is
    /// bound by its one `sendto` instead, which costs less than a
    /// `connect` and a `send`. If the connect fails, the sends go out
    /// unconnected and meet the error themselves.
    fn flush(&self, st: &mut State, cx: &mut Context<'_>) -> usize {
        if !st.connected && port_is_shared(self.max_queries) && !st.outbox.is_empty() {
            st.connected = self.sock.connect(self.server).is_ok();
        }
        let mut sent = 0;
        while !st.outbox.is_empty() {
            let n = st.outbox.len().min(BATCH);
            let polled = match st.outbox.first() {
                // One datagram: send(to), cheaper in the kernel than sendmmsg.
                Some((_, bytes)) if n == 1 && st.connected => self.sock.poll_send(cx, bytes),
                Some((_, bytes)) if n == 1 => self.sock.poll_send_to(cx, bytes, self.server),
                _ => {
                    let mut slices = [IoSlice::new(&[]); BATCH];
                    for (s, (_, bytes)) in slices.iter_mut().zip(&st.outbox) {
                        *s = IoSlice::new(bytes);
                    }
                    if st.connected {
                        self.sock.poll_send_batch(cx, &slices[..n])
                    } else {
                        let targets = [self.server; BATCH];
                        self.sock
                            .poll_send_batch_to(cx, &slices[..n], &targets[..n])
                    }
                }
            };
            let polled = polled.map_ok(|sent| if n == 1 { usize::from(sent > 0) } else { sent });
            match polled {
                Poll::Ready(Ok(0)) | Poll::Pending => break,
                Poll::Ready(Ok(k)) => {
                    let State { outbox, spare, .. } = &mut *st;
                    for (_, bytes) in outbox.drain(..k.min(n)) {
                        if spare.len() < BATCH {
                            spare.push(bytes);
                        }
                    }
                    sent += k;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    st.fail_all(self.server, &e);
                    break;
                }
                Poll::Ready(Err(e)) => {
                    let (id, _) = st.outbox.remove(0);
                    let err = io::Error::new(e.kind(), format!("send to {}: {e}", self.server));
                    st.deliver(id, Err(Error::Io(err)));
                }
            }
        }
        sent
    }

    /// A port of its own per query (`udp_max_queries = 1`): at most one
    /// query is ever in flight on it, and its port is released once that
    /// query is done.
    fn one_per_port(&self) -> bool {
        self.max_queries == 1
    }

    /// Reads and hands out replies until the socket's queue is empty (the
    /// caller, the driver, is then registered for its next readiness).
    fn receive(&self, st: &mut State, cx: &mut Context<'_>) {
        if self.one_per_port() {
            self.receive_lone(st, cx);
            return;
        }
        for round in 0..BATCHES_PER_POLL {
            // Nothing to read: registered for the next edge, and no
            // buffers set up for nothing.
            if !self.readable(st, cx) {
                return;
            }
            let got = self.read(
                st,
                |bufs, meta| self.sock.poll_recv_batch(cx, bufs, meta),
                |r| match r {
                    Poll::Ready(Ok(n)) => Some(*n),
                    _ => None,
                },
            );
            match got {
                Poll::Ready(Ok(_)) if round + 1 == BATCHES_PER_POLL => {
                    // Still more: let other tasks run, then read on.
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    st.fail_all(self.server, &e);
                    return;
                }
                Poll::Pending => return,
            }
        }
    }

    /// [`receive`](Channel::receive) for a query on a port of its own: one
    /// datagram per `recvfrom` until its reply has come or the queue is
    /// empty. A batch receive of two would tell the queue empty behind the
    /// reply, at a cost in the kernel each time; this port has nothing more
    /// to bring once the reply is in, and releasing it
    /// ([`UdpSocket::release_port_idle`]) clears readiness, so a datagram
    /// still queued is met first by the next query on this socket, which
    /// checks it and reads on (the next query's reply raises the edge).
    fn receive_lone(&self, st: &mut State, cx: &mut Context<'_>) {
        for _ in 0..BATCHES_PER_POLL * FEW {
            if !self.readable(st, cx) {
                return;
            }
            match self.read_one(st) {
                Ok(()) if st.all_answered() => return,
                Ok(()) => {}
                // Readiness is cleared: the next `poll_recv_ready`
                // registers for the next edge.
                Err(e) if is_retry(&e) => {}
                Err(e) => {
                    st.fail_all(self.server, &e);
                    return;
                }
            }
        }
        // Still more: let other tasks run, then read on.
        cx.waker().wake_by_ref();
    }

    /// Whether the socket may be read: not when the runtime saw it drained
    /// (the task is then woken by the next edge), nor when it is in error
    /// (every query in flight fails with it).
    fn readable(&self, st: &mut State, cx: &mut Context<'_>) -> bool {
        match self.sock.poll_recv_ready(cx) {
            Poll::Pending => false,
            Poll::Ready(Err(e)) => {
                st.fail_all(self.server, &e);
                false
            }
            Poll::Ready(Ok(())) => true,
        }
    }

    /// One datagram off the socket (see [`UdpSocket::recv_one_now`]),
    /// handed to the query it answers.
    fn read_one(&self, st: &mut State) -> io::Result<()> {
        with_scratch::<1, _>(|bufs, _| {
            let [buf] = bufs else {
                return Ok(());
            };
            let m = self.sock.recv_one_now(buf)?;
            self.dispatch(st, std::slice::from_ref(buf), &[m]);
            Ok(())
        })
    }

    /// One receive right after a send, whatever the readiness says: a
    /// server on loopback (or one preempting us on this core) has often
    /// answered by then, which saves a reactor turn and usually a sleep.
    fn receive_now(&self, st: &mut State) {
        // Whether the receive brought a reply looked for (a stray datagram
        // read is not one).
        let got = if self.one_per_port() {
            self.read_one(st).map(|()| st.all_answered())
        } else {
            self.read(
                st,
                |bufs, meta| self.sock.recv_batch_now(bufs, meta),
                |r| r.as_ref().ok().copied(),
            )
            .map(|_| true)
        };
        match got {
            Ok(hit) => early_result(hit),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => early_result(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => st.fail_all(self.server, &e),
        }
    }

    /// One receive `op` into scratch slots (a few for a lone query, a
    /// batch for a shared channel); the datagrams it read (`count` of its
    /// result) are handed out.
    fn read<R>(
        &self,
        st: &mut State,
        op: impl FnOnce(&mut [IoSliceMut<'_>], &mut [RecvMeta]) -> R,
        count: impl Fn(&R) -> Option<usize>,
    ) -> R {
        let few = st.pending.len() <= 1;
        let run = |bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]| {
            let r = op(bufs, meta);
            if let Some(n) = count(&r) {
                self.dispatch(st, bufs, meta.get(..n).unwrap_or_default());
            }
            r
        };
        if few {
            with_scratch::<FEW, _>(run)
        } else {
            with_scratch::<BATCH, _>(run)
        }
    }

    /// Hands each datagram from the server to the query it answers.
    fn dispatch(&self, st: &mut State, bufs: &[IoSliceMut<'_>], meta: &[RecvMeta]) {
        for (buf, m) in bufs.iter().zip(meta) {
            if m.addr.ip() != self.server.ip() || m.addr.port() != self.server.port() {
                continue;
            }
            let Some(data) = buf.get(..m.len.min(SLOT)) else {
                continue;
            };
            let Some(&[hi, lo]) = data.get(..2) else {
                continue;
            };
            let id = u16::from_be_bytes([hi, lo]);
            let Some(p) = st.find(id).filter(|p| p.got.is_none()) else {
                continue; // late, stray or forged
            };
            let reply = if m.truncated {
                // Cut by the kernel: take it as truncated, so the query
                // goes to TCP for the whole answer.
                let mut cut = data.to_vec();
                if let Some(flags) = cut.get_mut(2) {
                    *flags |= 0x02;
                }
                validate_asked(&p.query, &cut)
            } else {
                validate_asked(&p.query, data)
            };
            let Ok(reply) = reply else {
                continue;
            };
            // A forged or malformed COOKIE option: dropped like a wrong ID.
            if check_cookie(p.sent_client.as_ref(), &reply).is_ok() {
                st.deliver(id, Ok(boxed_reply(reply)));
            }
        }
    }
}

/// A receive that found nothing (readiness is then cleared) or was
/// interrupted: try again after the next readiness check.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

thread_local! {
    /// Receive slots for `recvmmsg`, shared by this thread's channels.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `N` (at most [`BATCH`]) receive buffers of [`SLOT`] bytes
/// and their metadata: a few for a channel with one query in flight, which
/// expects one reply, [`BATCH`] for a shared one.
fn with_scratch<const N: usize, R>(
    f: impl FnOnce(&mut [IoSliceMut<'_>], &mut [RecvMeta]) -> R,
) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < BATCH * SLOT {
            scratch.resize(BATCH * SLOT, 0);
        }
        let mut chunks = scratch.chunks_mut(SLOT);
        let mut bufs: [IoSliceMut<'_>; N] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        let mut meta = [RecvMeta::default(); N];
        f(&mut bufs, &mut meta)
    })
}

/// Slots for a channel with at most one query in flight: its reply, and
/// room to see the queue empty behind it.
const FEW: usize = 2;

thread_local! {
    /// How often a receive right after a send has found a reply lately:
    /// +2 per hit, -1 per miss, within 0..=EARLY_MAX.
    static EARLY_SCORE: Cell<u8> = const { Cell::new(EARLY_MAX) };
    /// Sends since the last early receive, to try again now and then.
    static EARLY_SKIPPED: Cell<u8> = const { Cell::new(0) };
}

const EARLY_MAX: u8 = 16;
/// Below this score early receives are skipped: they pay (one syscall
/// saves one or two) while at least about a third of them hit.
const EARLY_MIN: u8 = 4;
/// While skipping, one send in this many still tries, to notice when the
/// server has become fast again.
const EARLY_PROBE: u8 = 16;

/// Whether this send is followed by an early receive: yes while they have
/// been finding replies lately, else one send in [`EARLY_PROBE`].
fn early_receive_due() -> bool {
    if EARLY_SCORE.get() >= EARLY_MIN {
        return true;
    }
    let skipped = EARLY_SKIPPED.get().wrapping_add(1);
    EARLY_SKIPPED.set(skipped);
    skipped % EARLY_PROBE == 0
}

fn early_result(hit: bool) {
    let score = EARLY_SCORE.get();
    EARLY_SCORE.set(if hit {
        score.saturating_add(2).min(EARLY_MAX)
    } else {
        score.saturating_sub(1)
    });
}
