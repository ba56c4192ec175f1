//! Socket options of [`UdpSocket`]: broadcast, TTL, multicast membership,
//! loop and TTL, and buffer sizes (the names tokio uses).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;

use tern_runtime::sys::socket::{self, Opt};

use super::UdpSocket;
use crate::sockopt;

impl UdpSocket {
    /// Allows (or forbids) sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.as_fd(), Opt::Broadcast, "SO_BROADCAST", on)
    }

    /// Whether `SO_BROADCAST` is on.
    pub fn broadcast(&self) -> io::Result<bool> {
        sockopt::get_bool(self.as_fd(), Opt::Broadcast, "SO_BROADCAST")
    }

    /// Turns on (or off) the delivery of ICMP errors for datagrams sent
    /// with [`send_to`](UdpSocket::send_to) (`IP_RECVERR`, or
    /// `IPV6_RECVERR` on an IPv6 socket): with it, an unconnected socket's
    /// next receive fails with the error (`ConnectionRefused` for "port
    /// unreachable"), as a connected socket's does without it. The error
    /// may come from any peer the socket sent to.
    pub fn set_recv_errors(&self, on: bool) -> io::Result<()> {
        let fd = self.as_fd();
        let opt = match socket::local_addr(fd)? {
            std::net::SocketAddr::V4(_) => Opt::RecvErrorsV4,
            std::net::SocketAddr::V6(_) => Opt::RecvErrorsV6,
        };
        sockopt::set_bool(fd, opt, "IP_RECVERR", on)
    }

    /// Sets the TTL of outgoing unicast datagrams (`IP_TTL`; on an IPv6
    /// socket the hop limit, `IPV6_UNICAST_HOPS`).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sockopt::set_ttl(self.as_fd(), ttl)
    }

    /// The TTL of outgoing unicast datagrams (see
    /// [`set_ttl`](UdpSocket::set_ttl)).
    pub fn ttl(&self) -> io::Result<u32> {
        sockopt::ttl(self.as_fd())
    }

    /// Joins the IPv4 multicast group `group` on the interface whose
    /// address is `interface` (`Ipv4Addr::UNSPECIFIED`: the kernel picks).
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// use std::net::Ipv4Addr;
    /// let sock = tern::net::UdpSocket::bind_str("0.0.0.0:5353")?;
    /// sock.join_multicast_v4(Ipv4Addr::new(224, 0, 0, 251), Ipv4Addr::UNSPECIFIED)?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        socket::multicast_v4(self.as_fd(), group, interface, true).map_err(sockopt::ctx(
            &format!("join multicast group {group} on {interface}"),
            self.as_fd(),
        ))
    }

    /// Leaves an IPv4 multicast group joined with
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4); leaving a group
    /// not joined is `EADDRNOTAVAIL`.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        socket::multicast_v4(self.as_fd(), group, interface, false).map_err(sockopt::ctx(
            &format!("leave multicast group {group} on {interface}"),
            self.as_fd(),
        ))
    }

    /// Joins the IPv6 multicast group `group` on the interface with index
    /// `interface` (0: the kernel picks). The socket must be an IPv6 one.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let sock = tern::net::UdpSocket::bind_str("[::]:5353")?;
    /// sock.join_multicast_v6(&"ff02::fb".parse().unwrap(), 0)?;
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        socket::multicast_v6(self.as_fd(), group, interface, true).map_err(sockopt::ctx(
            &format!("join multicast group {group} on interface {interface}"),
            self.as_fd(),
        ))
    }

    /// Leaves an IPv6 multicast group joined with
    /// [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        socket::multicast_v6(self.as_fd(), group, interface, false).map_err(sockopt::ctx(
            &format!("leave multicast group {group} on interface {interface}"),
            self.as_fd(),
        ))
    }

    /// Whether IPv4 multicast datagrams this socket sends are looped back
    /// to the host's own members of the group (`IP_MULTICAST_LOOP`, on by
    /// default).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(self.as_fd(), Opt::MulticastLoopV4, "IP_MULTICAST_LOOP", on)
    }

    /// Whether `IP_MULTICAST_LOOP` is on.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        sockopt::get_bool(self.as_fd(), Opt::MulticastLoopV4, "IP_MULTICAST_LOOP")
    }

    /// The IPv6 form of
    /// [`set_multicast_loop_v4`](UdpSocket::set_multicast_loop_v4)
    /// (`IPV6_MULTICAST_LOOP`).
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        sockopt::set_bool(
            self.as_fd(),
            Opt::MulticastLoopV6,
            "IPV6_MULTICAST_LOOP",
            on,
        )
    }

    /// Whether `IPV6_MULTICAST_LOOP` is on.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        sockopt::get_bool(self.as_fd(), Opt::MulticastLoopV6, "IPV6_MULTICAST_LOOP")
    }

    /// Sets the TTL of outgoing IPv4 multicast datagrams
    /// (`IP_MULTICAST_TTL`, 1 by default: they stay on the local network).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        sockopt::set_u32(self.as_fd(), Opt::MulticastTtlV4, "IP_MULTICAST_TTL", ttl)
    }

    /// The TTL of outgoing IPv4 multicast datagrams.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        sockopt::get_u32(self.as_fd(), Opt::MulticastTtlV4, "IP_MULTICAST_TTL")
    }

    /// Asks for a receive buffer of `size` bytes (`SO_RCVBUF`). Linux
    /// doubles the value for its bookkeeping and caps it at
    /// `net.core.rmem_max`; [`recv_buffer_size`](UdpSocket::recv_buffer_size)
    /// reports what was granted.
    ///
    /// ```no_run
    /// # tern::block_on(async {
    /// let sock = tern::net::UdpSocket::bind_str("127.0.0.1:0")?;
    /// sock.set_recv_buffer_size(1 << 20)?;
    /// println!("granted {} bytes", sock.recv_buffer_size()?);
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        sockopt::set_buffer_size(self.as_fd(), Opt::RecvBuffer, size)
    }

    /// The receive buffer size the kernel granted (`SO_RCVBUF`).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        sockopt::buffer_size(self.as_fd(), Opt::RecvBuffer)
    }

    /// Asks for a send buffer of `size` bytes (`SO_SNDBUF`; doubled and
    /// capped at `net.core.wmem_max` as for the receive buffer).
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        sockopt::set_buffer_size(self.as_fd(), Opt::SendBuffer, size)
    }

    /// The send buffer size the kernel granted (`SO_SNDBUF`).
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        sockopt::buffer_size(self.as_fd(), Opt::SendBuffer)
    }
}
