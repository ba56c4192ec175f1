//! Batched datagram I/O for [`UdpSocket`]: many datagrams per syscall with
//! `recvmmsg(2)` and `sendmmsg(2)`, so a server takes a burst in one call
//! (as quinn-udp does for QUIC).
//!
//! Each call moves at most
//! [`BATCH_MAX`](tern_runtime::sys::socket::BATCH_MAX) (64) datagrams;
//! longer slices are served in part and the returned count says how far
//! the call got. A receive returns as soon as the socket's queue is empty,
//! so it never waits for a batch to fill: it waits only while nothing at
//! all is queued.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tern_runtime::io::Direction;
use tern_runtime::sys::socket;

use super::{RecvMeta, UdpSocket};

impl UdpSocket {
    /// Receives up to `min(bufs.len(), meta.len(), 64)` queued datagrams in
    /// one syscall, datagram `i` into `bufs[i]` with its length, sender and
    /// whether it was truncated in `meta[i]`; returns how many. Waits until
    /// at least one datagram is queued. A datagram longer than its buffer
    /// is cut to it and flagged `truncated` (never silently). `Ok(0)` only
    /// when `bufs` or `meta` is empty.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// use std::io::IoSliceMut;
    /// use tern::net::{RecvMeta, UdpSocket};
    /// let sock = UdpSocket::bind_str("127.0.0.1:5353")?;
    /// let mut storage = vec![[0u8; 1500]; 32];
    /// let mut meta = [RecvMeta::default(); 32];
    /// loop {
    ///     let mut bufs: Vec<IoSliceMut<'_>> =
    ///         storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    ///     let n = sock.recv_batch(&mut bufs, &mut meta).await?;
    ///     for m in &meta[..n] {
    ///         println!("{} bytes from {}{}", m.len, m.addr,
    ///                  if m.truncated { " (truncated)" } else { "" });
    ///     }
    /// }
    /// # #[allow(unreachable_code)] std::io::Result::Ok(()) });
    /// ```
    pub async fn recv_batch(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        if bufs.is_empty() || meta.is_empty() {
            return Ok(0);
        }
        self.io
            .io(Direction::Read, |fd| self.receive_batch(fd, bufs, meta))
            .await
    }

    /// Polls to receive a batch (see [`recv_batch`](UdpSocket::recv_batch)).
    pub fn poll_recv_batch(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        if bufs.is_empty() || meta.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io
            .poll_io(cx, Direction::Read, |fd| self.receive_batch(fd, bufs, meta))
    }

    /// One non-blocking batch receive now, whatever the runtime last saw of
    /// the socket's readiness (see [`recv_batch`](UdpSocket::recv_batch)
    /// for the arguments): `WouldBlock` when nothing is queued. For replies
    /// that may already be queued right after a send; waiting is
    /// `recv_batch`'s job.
    pub fn recv_batch_now(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        if bufs.is_empty() || meta.is_empty() {
            return Ok(0);
        }
        self.receive_batch(std::os::fd::AsFd::as_fd(&self.io), bufs, meta)
    }

    /// One non-blocking receive of one datagram now, whatever the runtime
    /// last saw of the socket's readiness: the datagram held ahead, else one
    /// `recvfrom`, its length, sender and truncation in the result (as
    /// [`recv_batch`](UdpSocket::recv_batch) reports them); `WouldBlock`
    /// when nothing is queued, which clears readiness.
    ///
    /// Cheaper in the kernel than a batch receive of two, but a datagram
    /// received says nothing of what is queued behind it, so readiness
    /// stays set and the next receive runs the syscall again. For a caller
    /// that expects one datagram and then gives the port up with
    /// [`release_port_idle`](UdpSocket::release_port_idle).
    pub fn recv_one_now(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        let mut meta = RecvMeta::default();
        if self.take_ahead_into(buf, &mut meta) {
            return Ok(meta);
        }
        let fd = std::os::fd::AsFd::as_fd(&self.io);
        let got = self.reported(socket::recv_meta(fd, buf));
        if matches!(&got, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            // As `poll_io` clears it: an error bit left by a reported
            // error would keep the socket ready, and a reader looping on
            // `poll_recv_ready` would spin on `WouldBlock`.
            let _ = self.io.note_would_block(Direction::Read);
        }
        got
    }

    /// Ready when a receive would not wait: a datagram is held ahead, or
    /// the runtime last saw the socket readable (or in error). Otherwise the
    /// task is woken by the next edge. The receive itself may still find
    /// nothing (`WouldBlock`), as with tokio's `poll_recv_ready`.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ahead_is_held() {
            return Poll::Ready(Ok(()));
        }
        self.io.poll_ready(cx, Direction::Read)
    }

    /// One batch receive: the datagram held ahead (see `udp/ahead.rs`) on
    /// its own, else `recvmmsg`. Fewer datagrams than asked means the
    /// queue was empty when the call returned, so readiness is cleared.
    fn receive_batch(
        &self,
        fd: std::os::fd::BorrowedFd<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        if let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) {
            if self.take_ahead_into(buf, m) {
                return Ok(1);
            }
        }
        let asked = bufs.len().min(meta.len()).min(socket::BATCH_MAX);
        let got = self.reported(socket::recv_batch(fd, bufs, meta))?;
        if got < asked {
            self.io.clear_ready(Direction::Read);
        }
        Ok(got)
    }

    /// Sends up to `min(bufs.len(), targets.len(), 64)` datagrams in one
    /// syscall, `bufs[i]` to `targets[i]`; returns how many were sent.
    /// Waits while the send buffer is full. Fewer than asked means the
    /// buffer filled up or a later datagram failed: send the rest again
    /// (a failure is then reported; the kernel reports an error only for
    /// a call's first datagram, so the error names `targets[0]`). `Ok(0)`
    /// only for empty slices.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// use std::io::IoSlice;
    /// let sock = tern::net::UdpSocket::bind_str("127.0.0.1:0")?;
    /// let peer = "127.0.0.1:5353".parse().unwrap();
    /// let msgs = [IoSlice::new(b"one"), IoSlice::new(b"two")];
    /// let mut sent = 0;
    /// while sent < msgs.len() {
    ///     sent += sock.send_batch_to(&msgs[sent..], &[peer; 2][sent..]).await?;
    /// }
    /// # std::io::Result::Ok(()) });
    /// ```
    pub async fn send_batch_to(
        &self,
        bufs: &[IoSlice<'_>],
        targets: &[SocketAddr],
    ) -> io::Result<usize> {
        if bufs.is_empty() || targets.is_empty() {
            return Ok(0);
        }
        self.io
            .io(Direction::Write, |fd| {
                self.reported(socket::send_batch(fd, bufs, Some(targets)))
            })
            .await
            .map_err(super::send_error("send_batch_to", &targets[0]))
    }

    /// Polls to send a batch (see
    /// [`send_batch_to`](UdpSocket::send_batch_to)).
    pub fn poll_send_batch_to(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        targets: &[SocketAddr],
    ) -> Poll<io::Result<usize>> {
        if bufs.is_empty() || targets.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io
            .poll_io(cx, Direction::Write, |fd| {
                self.reported(socket::send_batch(fd, bufs, Some(targets)))
            })
            .map_err(super::send_error("send_batch_to", &targets[0]))
    }

    /// Sends up to 64 datagrams of `bufs` to the connected peer in one
    /// syscall (see [`send_batch_to`](UdpSocket::send_batch_to)); on an
    /// unconnected socket this fails with the OS error `EDESTADDRREQ`
    /// (`raw_os_error()`; std has no stable `ErrorKind` for it).
    pub async fn send_batch(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.is_empty() {
            return Ok(0);
        }
        self.io
            .io(Direction::Write, |fd| {
                self.reported(socket::send_batch(fd, bufs, None))
            })
            .await
    }

    /// Polls to send a batch to the connected peer (see
    /// [`send_batch`](UdpSocket::send_batch)).
    pub fn poll_send_batch(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_io(cx, Direction::Write, |fd| {
            self.reported(socket::send_batch(fd, bufs, None))
        })
    }
}
