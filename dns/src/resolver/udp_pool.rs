//! Idle UDP sockets per server, so that a query need not pay for a new
//! socket and its epoll registration.
//!
//! # Implementation
//!
//! A socket taken from the pool is connected to its server. It carries a
//! count of the queries sent on its current source port; with
//! `Config::udp_max_queries = n > 0`, a socket given back after its `n`th
//! query is disconnected at once (`UdpSocket::disconnect`:
//! `connect(AF_UNSPEC)` releases the port the kernel picked, and the
//! datagrams still queued are dropped), and connected again when it is
//! next taken, which picks a new random ephemeral port. With the default
//! `n = 1` every query leaves from a new random port, as if it had a new
//! socket; with `n = 0` a socket keeps its port (and its association) for
//! as long as it lives, as c-ares's sockets do, and replies to earlier
//! queries that arrive late are rejected by the ID and question checks.
//!
//! Only sockets whose exchange ended with an accepted reply come back:
//! a socket whose query timed out, failed, or was cancelled is closed, so a
//! pooled socket never has a query of its own outstanding.
//!
//! A socket belongs to the runtime that made it (its epoll registration).
//! The pool is thread-local and remembers the runtime it was filled in
//! ([`tern_runtime::current_runtime_id`]): when another runtime takes
//! from it, the old sockets are closed first, so no socket is ever handed
//! to a runtime other than its own.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;

use tern_net::UdpSocket;

/// Idle sockets kept per server: enough for 64 queries in flight to one
/// server to cycle without making sockets.
const MAX_IDLE_PER_SERVER: usize = 64;

/// A UDP socket for queries to one server.
#[derive(Debug)]
pub(crate) struct PooledSocket {
    sock: UdpSocket,
    /// Connected to the server (false after a disconnect).
    connected: bool,
    /// Queries sent from the current source port.
    sent: u32,
}

impl PooledSocket {
    /// The socket, connected to the server.
    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.sock
    }
}

#[derive(Debug, Default)]
struct Pool {
    runtime: Option<u64>,
    /// Idle sockets by server and the `udp_max_queries` they were used
    /// with (resolvers with different settings do not share sockets). A
    /// list: a resolver has at most a few servers.
    idle: Vec<((SocketAddr, u32), Vec<PooledSocket>)>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A socket connected to `server` for one more query: from the pool (on a
/// new random port if its last one has carried `max_queries`), or new.
pub(crate) fn take(server: SocketAddr, max_queries: u32) -> io::Result<PooledSocket> {
    let runtime = tern_runtime::current_runtime_id();
    let pooled = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.runtime != runtime {
            // Filled by another runtime: those sockets are not ours to use.
            let stale = std::mem::take(&mut pool.idle);
            pool.runtime = runtime;
            drop(pool);
            drop(stale);
            return None;
        }
        let key = (server, max_queries);
        let (_, idle) = pool.idle.iter_mut().find(|(k, _)| *k == key)?;
        idle.pop()
    });
    let mut s = match pooled {
        Some(s) => s,
        None => {
            return Ok(PooledSocket {
                sock: UdpSocket::connected(server)?,
                connected: true,
                sent: 1,
            })
        }
    };
    if !s.connected {
        s.sock.connect(server)?;
        s.connected = true;
        s.sent = 0;
    }
    s.sent = s.sent.saturating_add(1);
    Ok(s)
}

/// Gives back a socket whose exchange with `server` ended with an accepted
/// reply. After `max_queries` queries on its port (0: no limit) it is
/// disconnected now, releasing the port.
pub(crate) fn give_back(server: SocketAddr, mut s: PooledSocket, max_queries: u32) {
    if max_queries != 0 && s.sent >= max_queries {
        if s.sock.disconnect().is_err() {
            return; // closed instead
        }
        s.connected = false;
    }
    let runtime = tern_runtime::current_runtime_id();
    POOL.with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return;
        };
        if pool.runtime != runtime {
            return;
        }
        let key = (server, max_queries);
        let at = match pool.idle.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                pool.idle.push((key, Vec::new()));
                pool.idle.len() - 1
            }
        };
        if let Some((_, idle)) = pool.idle.get_mut(at) {
            if idle.len() < MAX_IDLE_PER_SERVER {
                idle.push(s);
            }
        }
    });
}

/// Closes the idle UDP sockets this thread keeps for reuse (see
/// [`crate::Config::udp_max_queries`]), for every runtime. Lookups after
/// this open new sockets as needed. Useful before counting open fds.
pub fn close_idle_sockets() {
    let idle = POOL.with(|pool| std::mem::take(&mut pool.borrow_mut().idle));
    drop(idle);
}
