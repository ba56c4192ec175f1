//! The OS boundary (`tern_runtime::sys`) at the edges of its `unsafe`
//! blocks: address slots the kernel fills only in part (`recv_two` does not
//! zero them), batches longer than `BATCH_MAX` or than their metadata,
//! Unix addresses that fill `sun_path` with no NUL, and epoll buffers
//! smaller than the number of ready sources. Meant to be run under
//! AddressSanitizer as well:
//! `RUSTFLAGS=-Zsanitizer=address cargo +nightly test --target
//! x86_64-unknown-linux-gnu -p tern-runtime --test sys_boundary`.
//!
//! Loopback only; a datagram sent on loopback is queued at the receiver
//! before `send` returns, so no test waits.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use tern_runtime::sys::epoll::{Epoll, Events, TimedWait};
use tern_runtime::sys::eventfd::EventFd;
use tern_runtime::sys::socket::{self, RecvMeta, SocketType, BATCH_MAX};
use tern_runtime::sys::unix::{self, UnixAddr};

/// A non-blocking receiver and a sender on loopback (IPv4 or IPv6).
fn pair(v6: bool) -> (UdpSocket, UdpSocket) {
    let at = if v6 { "[::1]:0" } else { "127.0.0.1:0" };
    let rx = UdpSocket::bind(at).unwrap();
    rx.set_nonblocking(true).unwrap();
    let tx = UdpSocket::bind(at).unwrap();
    tx.connect(rx.local_addr().unwrap()).unwrap();
    (rx, tx)
}

#[test]
fn recv_two_reads_only_the_addresses_the_kernel_wrote() {
    for v6 in [false, true] {
        let (rx, tx) = pair(v6);
        let from = tx.local_addr().unwrap();
        let (mut a, mut b) = ([0u8; 2], [0u8; 8]);
        let e = socket::recv_two(rx.as_fd(), &mut a, &mut b, true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

        // One datagram, cut to the first buffer: no second.
        tx.send(b"abcd").unwrap();
        let two = socket::recv_two(rx.as_fd(), &mut a, &mut b, true).unwrap();
        assert_eq!(
            (two.first_len, two.first_from, two.second),
            (2, Some(from), None)
        );
        assert_eq!(&a, b"ab");

        // Two datagrams; the first sender not asked for (no slot given).
        tx.send(b"x").unwrap();
        tx.send(b"yz").unwrap();
        let two = socket::recv_two(rx.as_fd(), &mut a, &mut b, false).unwrap();
        assert_eq!((two.first_len, two.first_from), (1, None));
        assert_eq!(two.second, Some((2, from)));
        assert_eq!(&b[..2], b"yz");

        // Empty buffers: lengths 0, senders still reported.
        tx.send(b"p").unwrap();
        tx.send(b"q").unwrap();
        let two = socket::recv_two(rx.as_fd(), &mut [], &mut [], true).unwrap();
        assert_eq!((two.first_len, two.first_from), (0, Some(from)));
        assert_eq!(two.second, Some((0, from)));
    }
}

#[test]
fn batches_are_cut_to_batch_max_and_to_their_metadata() {
    for v6 in [false, true] {
        let (rx, tx) = pair(v6);
        let from = tx.local_addr().unwrap();
        let to = rx.local_addr().unwrap();
        let total = BATCH_MAX + 6;
        let payloads: Vec<[u8; 3]> = (0..total).map(|i| [i as u8; 3]).collect();
        let msgs: Vec<IoSlice<'_>> = payloads.iter().map(|p| IoSlice::new(p)).collect();

        // Targets shorter than the buffers: only that many are sent.
        let sent = socket::send_batch(tx.as_fd(), &msgs, Some(&[to; 2])).unwrap();
        assert_eq!(sent, 2);
        // More than BATCH_MAX: cut to it; the rest on the next call.
        let targets = vec![to; total];
        let sent = socket::send_batch(tx.as_fd(), &msgs[2..], Some(&targets)).unwrap();
        assert_eq!(sent, BATCH_MAX);
        let sent = socket::send_batch(tx.as_fd(), &msgs[2 + BATCH_MAX..], None).unwrap();
        assert_eq!(sent, total - 2 - BATCH_MAX);

        // Two-byte buffers (every datagram is cut), more buffers than
        // BATCH_MAX, metadata shorter than the buffers.
        let mut store = vec![[0u8; 2]; total + 10];
        let mut bufs: Vec<IoSliceMut<'_>> = store.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let mut meta = vec![RecvMeta::default(); 5];
        let got = socket::recv_batch(rx.as_fd(), &mut bufs, &mut meta).unwrap();
        assert_eq!(got, 5);
        let mut meta = vec![RecvMeta::default(); total + 10];
        let more = socket::recv_batch(rx.as_fd(), &mut bufs, &mut meta).unwrap();
        assert_eq!(more, BATCH_MAX);
        for m in &meta[..more] {
            assert_eq!((m.len, m.addr, m.truncated), (2, from, true));
        }
        // Entries past the count are left as they were.
        assert!(meta[more..].iter().all(|m| *m == RecvMeta::default()));
        let rest = socket::recv_batch(rx.as_fd(), &mut bufs, &mut meta).unwrap();
        assert_eq!(rest, total - 5 - BATCH_MAX);
        drop(bufs);
        assert_eq!(store[0], [(5 + BATCH_MAX) as u8; 2]);
        let e = socket::recv_batch(rx.as_fd(), &mut [IoSliceMut::new(&mut [0u8; 4])], &mut meta)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}

/// A Unix datagram socket bound with plain libc to `path`, which fills
/// all 108 bytes of `sun_path` with no trailing NUL (Linux accepts it and
/// reports a length past the end of `sun_path`); tern's own `bind` refuses
/// such a path.
fn bind_full_path(path: &[u8]) -> OwnedFd {
    let fd = unix::socket(SocketType::Datagram).unwrap();
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut un: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    un.sun_family = libc::AF_UNIX as libc::sa_family_t;
    assert_eq!(path.len(), un.sun_path.len());
    for (d, &s) in un.sun_path.iter_mut().zip(path) {
        *d = s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `un` is a live sockaddr_un of `len` bytes, only read.
    let res = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&un as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    assert_eq!(res, 0, "{}", io::Error::last_os_error());
    fd
}

/// Removes the socket file when the test ends, passed or failed.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn unix_addresses_that_fill_sun_path_are_read_within_it() {
    let mut path = format!("/tmp/tern-sysrev-{}-", std::process::id()).into_bytes();
    path.resize(108, b'p');
    let _file = RemoveOnDrop(std::str::from_utf8(&path).unwrap().into());
    let _ = std::fs::remove_file(&_file.0);
    let tx = bind_full_path(&path);
    assert_eq!(
        unix::local_addr(tx.as_fd()).unwrap(),
        UnixAddr::Pathname(path.clone())
    );

    let rx = unix::socket(SocketType::Datagram).unwrap();
    let mut name = vec![0u8];
    name.resize(108, b'a');
    unix::bind(rx.as_fd(), &name).unwrap();
    assert_eq!(
        unix::local_addr(rx.as_fd()).unwrap(),
        UnixAddr::Abstract(name[1..].to_vec())
    );

    assert_eq!(unix::send_to(tx.as_fd(), b"hi", &name).unwrap(), 2);
    let mut buf = [0u8; 8];
    let (n, from) = unix::recv_from(rx.as_fd(), &mut buf).unwrap();
    assert_eq!((n, from), (2, UnixAddr::Pathname(path.clone())));

    // An unnamed sender.
    let anon = unix::socket(SocketType::Datagram).unwrap();
    unix::send_to(anon.as_fd(), b"", &name).unwrap();
    assert_eq!(
        unix::recv_from(rx.as_fd(), &mut buf).unwrap(),
        (0, UnixAddr::Unnamed)
    );
    std::fs::remove_file(std::str::from_utf8(&path).unwrap()).unwrap();
}

#[test]
fn epoll_never_returns_more_events_than_the_buffer_holds() {
    for mode in [TimedWait::TimerFd, TimedWait::detect()] {
        let ep = Epoll::create(mode).unwrap();
        let fds: Vec<EventFd> = (0..5).map(|_| EventFd::new().unwrap()).collect();
        for (i, fd) in fds.iter().enumerate() {
            ep.add(fd.as_raw_fd(), i as u64, true).unwrap();
        }
        let mut events = Events::with_capacity(0);
        let mut seen = Vec::new();
        while seen.len() < fds.len() {
            ep.wait(&mut events, Some(std::time::Duration::ZERO))
                .unwrap();
            assert_eq!(events.len(), 1);
            seen.extend(events.iter().map(|(token, _)| token));
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..5).collect::<Vec<u64>>());
    }
}
