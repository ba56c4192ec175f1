//! The one datagram fast path: delivery between sockets of one runtime
//! over loopback.
//!
//! Over loopback the kernel normally queues a datagram on the receiving
//! socket before the sending call returns (the receive path runs as soon
//! as the send re-enables softirqs). When both ends are sources of one
//! reactor, the sender says so ([`Reactor::loopback_sent`]) and the
//! receiver is made readable and its readers woken at once, as its edge
//! would have done one epoll wait later: an exchange between two sockets of
//! one runtime then costs the send and the receives and no epoll wait. The
//! receiver registers the address it is bound to
//! ([`Reactor::set_local_addr`]).
//!
//! # Why it cannot lose or delay data
//!
//! The hint only ever *adds* readability and wakes readers; it never
//! clears readiness or holds a wake-up back. The receive it causes is a
//! real one: it finds the datagram, or says `WouldBlock` and waits for the
//! datagram's own edge, which still reaches epoll as without the hint. So a
//! wrong hint (the kernel dropped or filtered the datagram, or deferred its
//! delivery under load) costs one receive that says `WouldBlock`, and a
//! right one saves an epoll wait. Receiving sockets keep receiving until
//! the kernel says `WouldBlock`, hint or no hint.
//!
//! # Remembered answers
//!
//! A sender keeps its last answer from the map ([`HintCache`]), valid
//! while the map's version is unchanged; the map holds each target's
//! [`ScheduledIo`], so a hint touches no slab. A connected socket keeps a
//! second answer for its peer ([`Reactor::loopback_sent_to_peer`]): its
//! `connect` names the peer and makes the answer stale, so a `send` checks
//! only the version, not the address.
//!
//! Sockets made by `connect`ing an unbound socket are not registered (that
//! would cost a `getsockname` per socket, e.g. per DNS query), so replies
//! to them come through epoll. The map does not tell protocols apart, so
//! only datagram sockets may register.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use super::{Reactor, ScheduledIo};

/// Datagram sources of one reactor by the loopback or wildcard address
/// they are bound to.
#[derive(Debug)]
pub(super) struct LoopbackMap {
    by_addr: RefCell<HashMap<SocketAddr, Rc<ScheduledIo>, BuildHasherDefault<AddrHasher>>>,
    /// Bumped on every change, so a sender's cached answer
    /// ([`HintCache`]) is known to be current. Starts at 1: a cache
    /// holding 0 is known to be stale.
    version: Cell<u64>,
}

impl Default for LoopbackMap {
    fn default() -> LoopbackMap {
        LoopbackMap {
            by_addr: RefCell::default(),
            version: Cell::new(1),
        }
    }
}

/// A sender's last answer from the map: `dest` was the address of
/// `target` (or of no source) at map `version`. Saves the map lookup of a
/// socket that keeps sending to the same peer. The `Rc` may outlive the
/// target's registration, but the map's version moves on when it goes, so
/// a stale answer is never used.
///
/// A connected socket keeps a second one for its peer
/// ([`Reactor::loopback_sent_to_peer`]): `dest` is then the peer, set at
/// `connect` ([`HintCache::set_peer`]), and a send checks only the version.
#[derive(Default)]
pub struct HintCache {
    version: Cell<u64>,
    dest: Cell<Option<SocketAddr>>,
    target: Cell<Option<Rc<ScheduledIo>>>,
}

impl HintCache {
    /// Makes `peer` the address this cache answers for, and the answer
    /// stale.
    pub(crate) fn set_peer(&self, peer: Option<SocketAddr>) {
        self.dest.set(peer);
        self.version.set(0);
        drop(self.target.take());
    }
}

impl std::fmt::Debug for HintCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HintCache")
            .field("version", &self.version.get())
            .field("dest", &self.dest.get())
            .finish_non_exhaustive()
    }
}

impl LoopbackMap {
    /// Forgets `addr` if it still names `io`.
    pub(super) fn forget(&self, addr: SocketAddr, io: &Rc<ScheduledIo>) {
        let removed = {
            let mut by_addr = self.by_addr.borrow_mut();
            if by_addr.get(&addr).is_some_and(|t| Rc::ptr_eq(t, io)) {
                by_addr.remove(&addr)
            } else {
                None
            }
        };
        if removed.is_some() {
            self.bump();
        }
    }

    fn bump(&self) {
        self.version.set(self.version.get().wrapping_add(1));
    }

    fn target(&self, dest: SocketAddr) -> Option<Rc<ScheduledIo>> {
        let by_addr = self.by_addr.borrow();
        if by_addr.is_empty() {
            return None;
        }
        let wildcard = SocketAddr::new(unspecified(dest.ip()), dest.port());
        by_addr
            .get(&map_key(dest))
            .or_else(|| by_addr.get(&wildcard))
            .cloned()
    }
}

impl Reactor {
    /// Records that datagram source `io` is bound to `addr`. Only
    /// loopback and wildcard addresses are kept. A second source bound to
    /// the same address (`SO_REUSEPORT`) takes over the entry; the kernel
    /// may pick either, and a wrong guess only costs a `WouldBlock`.
    pub(crate) fn set_local_addr(&self, io: &Rc<ScheduledIo>, addr: SocketAddr) {
        if !(addr.ip().is_loopback() || addr.ip().is_unspecified()) {
            return;
        }
        let addr = map_key(addr);
        let map = &self.loopback;
        if let Some(old) = io.local.replace(Some(addr)) {
            map.forget(old, io);
        }
        let replaced = map.by_addr.borrow_mut().insert(addr, io.clone());
        map.bump();
        drop(replaced);
    }

    /// A datagram was just sent to `dest`. If `dest` is a loopback address
    /// where a source of this reactor is bound, that source is made
    /// readable and its readers are woken.
    ///
    /// `cache` is the sender's memory of its last lookup: while the map is
    /// unchanged, a send to the same address skips the lookup.
    #[inline]
    pub(crate) fn loopback_sent(&self, dest: SocketAddr, cache: &HintCache) {
        if !dest.ip().is_loopback() {
            return;
        }
        let version = self.loopback.version.get();
        if cache.version.get() != version || cache.dest.get() != Some(dest) {
            cache.dest.set(Some(dest));
            self.refresh_hint(cache, version);
        }
        self.hint(cache);
    }

    /// A datagram was just sent to the connected peer that `cache` was
    /// given ([`HintCache::set_peer`]): as [`loopback_sent`](Reactor::loopback_sent),
    /// without comparing addresses while the map is unchanged.
    #[inline]
    pub(crate) fn loopback_sent_to_peer(&self, cache: &HintCache) {
        let version = self.loopback.version.get();
        if cache.version.get() != version {
            self.refresh_hint(cache, version);
        }
        self.hint(cache);
    }

    /// Wakes the target `cache` holds, if any.
    #[inline]
    fn hint(&self, cache: &HintCache) {
        // No user code runs while the target is out of the cache: the
        // readers' wakers are taken, the target put back, and only then
        // are they called.
        let Some(target) = cache.target.take() else {
            return;
        };
        let woken = self.make_readable(&target);
        cache.target.set(Some(target));
        self.wake(woken);
    }

    /// Looks up `cache`'s address (none, or one that is not loopback, has
    /// no target) and records the answer at `version`.
    #[cold]
    fn refresh_hint(&self, cache: &HintCache, version: u64) {
        let target = match cache.dest.get() {
            Some(dest) if dest.ip().is_loopback() => self.loopback.target(dest),
            _ => None,
        };
        cache.version.set(version);
        drop(cache.target.replace(target));
    }
}

/// A cheap hasher for the map: every send to a loopback address looks it
/// up, and its keys are this runtime's own sockets, so there is nobody to
/// flood it with colliding keys.
#[derive(Debug, Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// The map's key for `addr`: address and port only (an IPv6 flow label or
/// scope id does not change which socket receives).
fn map_key(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip(), addr.port())
}

/// The wildcard address of `ip`'s family.
fn unspecified(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}
