//! The pool of channels a thread keeps, per server and
//! `udp_max_queries`: every channel, and a stack of those with room (see
//! the parent module's notes).

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};

use tern_net::UdpSocket;

use super::Channel;

/// Idle channels kept per server (and `udp_max_queries`).
pub(super) const MAX_IDLE: usize = 64;

/// A server and the `udp_max_queries` its channels were made with.
type ChannelKey = (SocketAddr, u32);

#[derive(Debug, Default)]
struct Pool {
    runtime: Option<u64>,
    /// Channels by server and the `udp_max_queries` they were made with
    /// (resolvers with different settings do not share them). A list: a
    /// resolver has at most a few servers.
    lists: Vec<PoolList>,
}

/// The channels to one server made with one `udp_max_queries`.
#[derive(Debug)]
struct PoolList {
    key: ChannelKey,
    /// Every channel the pool keeps.
    chans: Vec<Rc<Channel>>,
    /// Those that may have room for a query, most recently settled last:
    /// taking a channel looks only at the top, so it costs the same with
    /// one query in flight or a thousand.
    ready: Vec<Weak<Channel>>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A channel to `server` with room for one more query: the first one in
/// the pool that has, or a new one.
pub(super) fn take(server: SocketAddr, max_queries: u32) -> io::Result<Rc<Channel>> {
    let runtime = tern_runtime::current_runtime_id();
    let key = (server, max_queries);
    let found = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.runtime != runtime {
            // Filled by another runtime: those sockets are not ours to use.
            // This runtime's go when it shuts down.
            let stale = std::mem::take(&mut pool.lists);
            pool.runtime = runtime;
            drop(pool);
            drop(stale);
            tern_runtime::on_shutdown(drop_runtime_channels);
            return None;
        }
        let list = pool.lists.iter_mut().find(|l| l.key == key)?;
        while let Some(top) = list.ready.last() {
            let chan = top.upgrade().filter(|c| c.has_room());
            match chan {
                // Stays listed while the query about to start leaves it
                // room (a shared channel); else it is listed again when it
                // settles.
                Some(chan) if chan.room_after_one() => return Some(chan),
                Some(chan) => {
                    list.ready.pop();
                    chan.listed.set(false);
                    return Some(chan);
                }
                None => {
                    if let Some(gone) = list.ready.pop().and_then(|w| w.upgrade()) {
                        gone.listed.set(false);
                    }
                }
            }
        }
        None
    });
    if let Some(chan) = found {
        return Ok(chan);
    }
    let sock = UdpSocket::unbound(server)?;
    sock.set_recv_errors(true)?;
    let chan = Rc::new_cyclic(|me| Channel {
        sock,
        server,
        max_queries,
        st: RefCell::default(),
        withdrawn: RefCell::default(),
        me: me.clone(),
        listed: Cell::new(false),
    });
    POOL.with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return;
        };
        let at = match pool.lists.iter().position(|l| l.key == key) {
            Some(at) => at,
            None => {
                pool.lists.push(PoolList {
                    key,
                    chans: Vec::new(),
                    ready: Vec::new(),
                });
                pool.lists.len() - 1
            }
        };
        if let Some(list) = pool.lists.get_mut(at) {
            list.chans.push(chan.clone());
            if chan.room_after_one() {
                chan.listed.set(true);
                list.ready.push(Rc::downgrade(&chan));
            }
        }
    });
    Ok(chan)
}

/// Run by a runtime as it shuts down: its channels (their sockets and their
/// hold on its reactor) go with it.
fn drop_runtime_channels() {
    let runtime = tern_runtime::current_runtime_id();
    let lists = POOL.with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return Vec::new();
        };
        if pool.runtime != runtime {
            return Vec::new();
        }
        pool.runtime = None;
        std::mem::take(&mut pool.lists)
    });
    drop(lists);
}

/// Closes the idle UDP sockets this thread keeps for reuse (see
/// [`crate::Config::udp_max_queries`]), for every runtime. Lookups after
/// this open new sockets as needed; sockets of lookups in flight close
/// when those end. Useful before counting open fds.
pub fn close_idle_sockets() {
    let lists = POOL.with(|pool| std::mem::take(&mut pool.borrow_mut().lists));
    drop(lists);
}

/// `chan` has settled (no query in flight): back on its list of channels
/// with room, or out of the pool if the list already holds [`MAX_IDLE`]
/// or the channel is `broken`.
pub(super) fn settled(chan: &Channel, broken: bool) {
    POOL.with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return;
        };
        let key = (chan.server, chan.max_queries);
        let Some(list) = pool.lists.iter_mut().find(|l| l.key == key) else {
            // The pool was emptied (runtime shutdown, close_idle_sockets):
            // the channel closes when its last user lets go.
            return;
        };
        if !broken && list.ready.len() < MAX_IDLE {
            if !chan.listed.replace(true) {
                list.ready.push(chan.me.clone());
            }
            return;
        }
        // After a burst, the sockets it needed are closed.
        list.chans.retain(|c| !std::ptr::eq(Rc::as_ptr(c), chan));
        if chan.listed.replace(false) {
            list.ready.retain(|w| !std::ptr::eq(w.as_ptr(), chan));
        }
    });
}
