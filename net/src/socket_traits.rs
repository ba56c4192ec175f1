//! The trait impls every socket type shares: `AsRawFd`, `AsFd`, and a
//! `Debug` that shows the socket's addresses and fd.

/// `AsRawFd`, `AsFd` and `Debug` for a socket type `$t` with an
/// `io: IoSource` field and a `local_addr` method. `Debug` shows the local
/// address, then, when `$peer` names a method (`peer_addr`), the peer's,
/// then the fd; an address that cannot be read is left out.
macro_rules! socket_traits {
    ($t:ident $(, $peer:ident)?) => {
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.io)
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.io)
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($t));
                if let Ok(a) = self.local_addr() {
                    d.field("local", &a);
                }
                $(
                    if let Ok(a) = self.$peer() {
                        d.field("peer", &a);
                    }
                )?
                d.field("fd", &std::os::fd::AsRawFd::as_raw_fd(self))
                    .finish()
            }
        }
    };
}

pub(crate) use socket_traits;
