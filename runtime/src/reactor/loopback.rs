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
//! Sockets made by `connect`ing an unbound socket are not registered (that
//! would cost a `getsockname` per socket, e.g. per DNS query), so replies
//! to them come through epoll. The map does not tell protocols apart, so
//! only datagram sockets may register.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{slot, Reactor, Token};

/// Datagram sources of one reactor by the loopback or wildcard address
/// they are bound to.
#[derive(Debug, Default)]
pub(super) struct LoopbackMap {
    by_addr: HashMap<SocketAddr, Token, BuildHasherDefault<AddrHasher>>,
    /// Bumped on every change, so a sender's cached answer
    /// ([`HintCache`]) is known to be current.
    version: u64,
}

/// A sender's last answer from the map: `dest` was `target` (or no source)
/// at map `version`. Saves the map lookup of a socket that keeps sending
/// to the same peer.
pub type HintCache = std::cell::Cell<Option<(SocketAddr, Option<Token>, u64)>>;

impl LoopbackMap {
    /// Forgets `addr` if it still names `token`.
    pub(super) fn forget(&mut self, addr: SocketAddr, token: Token) {
        if self.by_addr.get(&addr) == Some(&token) {
            self.by_addr.remove(&addr);
            self.version = self.version.wrapping_add(1);
        }
    }

    fn target(&self, dest: SocketAddr) -> Option<Token> {
        if self.by_addr.is_empty() {
            return None;
        }
        let wildcard = SocketAddr::new(unspecified(dest.ip()), dest.port());
        self.by_addr
            .get(&map_key(dest))
            .or_else(|| self.by_addr.get(&wildcard))
            .copied()
    }
}

impl Reactor {
    /// Records that datagram source `token` is bound to `addr`. Only
    /// loopback and wildcard addresses are kept. A second source bound to
    /// the same address (`SO_REUSEPORT`) takes over the entry; the kernel
    /// may pick either, and a wrong guess only costs a `WouldBlock`.
    pub(crate) fn set_local_addr(&self, token: Token, addr: SocketAddr) {
        if !(addr.ip().is_loopback() || addr.ip().is_unspecified()) {
            return;
        }
        let addr = map_key(addr);
        let mut sources = self.sources.borrow_mut();
        let Some(io) = slot(&mut sources, token) else {
            return;
        };
        let mut map = self.loopback.borrow_mut();
        if let Some(old) = io.local.replace(addr) {
            map.forget(old, token);
        }
        map.by_addr.insert(addr, token);
        map.version = map.version.wrapping_add(1);
    }

    /// A datagram was just sent to `dest`. If `dest` is a loopback address
    /// where a source of this reactor is bound, that source is made
    /// readable and its readers are woken.
    ///
    /// `cache` is the sender's memory of its last lookup: while the map is
    /// unchanged, a send to the same address skips the lookup.
    pub(crate) fn loopback_sent(&self, dest: SocketAddr, cache: &HintCache) {
        if !dest.ip().is_loopback() {
            return;
        }
        let target = {
            let map = self.loopback.borrow();
            match cache.get() {
                Some((addr, target, version)) if version == map.version && addr == dest => target,
                _ => {
                    let target = map.target(dest);
                    cache.set(Some((dest, target, map.version)));
                    target
                }
            }
        };
        if let Some(target) = target {
            self.wake_readers(target);
        }
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
