//! A connect to an IP literal is bounded like any other: `tern::dns::connect`
//! by the default `connect_timeout`, `Resolver::connect` with a scoped IPv6
//! literal by its config's. Without that, an address that drops SYNs held
//! the caller for the kernel's SYN retries (about two minutes).
//!
//! The address that drops SYNs is a loopback listener with a backlog of 0
//! whose accept queue already holds one connection: Linux drops further
//! SYNs while the queue is full. The clock is paused, so the timeout fires
//! as soon as the runtime has nothing else to do.

use std::io;
use std::net::{SocketAddr, TcpStream as StdStream};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use tern::dns::{Config, Resolver};
use tern::sys::socket::{self, SocketType};

/// A listener on `addr` (port 0) that takes no more connections, and the
/// connection that fills its queue.
fn full_listener(addr: SocketAddr) -> (OwnedFd, StdStream, SocketAddr) {
    let fd = socket::socket(&addr, SocketType::Stream).unwrap();
    socket::bind(fd.as_fd(), &addr).unwrap();
    socket::listen(fd.as_fd(), 0).unwrap();
    let at = socket::local_addr(fd.as_fd()).unwrap();
    let filler = StdStream::connect(at).unwrap();
    (fd, filler, at)
}

#[test]
fn connect_to_an_ip_literal_times_out() {
    let (_listener, _filler, at) = full_listener("127.0.0.1:0".parse().unwrap());
    let err = tern::block_on_paused(async move {
        let start = tern::time::now();
        let res = tern::dns::connect("127.0.0.1", at.port()).await;
        (res.map(drop), tern::time::now() - start)
    });
    let (res, took) = err;
    let err = res.expect_err("the listener drops SYNs");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(took, Duration::from_secs(30), "the default connect_timeout");
    assert!(err.to_string().contains(&at.to_string()), "{err}");
}

/// The loopback interface's index, for a scoped `::1`.
fn loopback_index() -> u32 {
    std::fs::read_to_string("/sys/class/net/lo/ifindex")
        .expect("/sys/class/net/lo/ifindex")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn connect_to_a_scoped_ipv6_literal_times_out() {
    let (_listener, _filler, at) = full_listener("[::1]:0".parse().unwrap());
    let host = format!("::1%{}", loopback_index());
    let (res, took) = tern::block_on_paused(async move {
        let mut c = Config::default();
        c.nameservers = vec!["127.0.0.1:9".parse().unwrap()];
        c.use_hosts = false;
        c.connect_timeout = Duration::from_secs(3);
        let r = Resolver::new(c);
        let start = tern::time::now();
        let res = r.connect(&host, at.port()).await;
        (res.map(drop), tern::time::now() - start)
    });
    let err = res.expect_err("the listener drops SYNs");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert_eq!(took, Duration::from_secs(3), "the config's connect_timeout");
}
