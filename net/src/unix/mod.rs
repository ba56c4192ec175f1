//! Unix-domain sockets: [`UnixStream`], [`UnixListener`] and
//! [`UnixDatagram`], with the methods of the TCP and UDP types, the
//! stream's split halves, and [`SocketAddr`].
//!
//! Names are filesystem paths or, on Linux, names in the abstract
//! namespace: a path whose first byte is NUL (`"\0name"`) is abstract, and
//! the `*_abstract` constructors take the name without the NUL. An
//! abstract name never touches the filesystem and disappears with the last
//! socket bound to it; a path stays until it is removed (dropping a
//! listener does not remove it, as with std and tokio). Errors name the
//! path or abstract name (shown as `@name`).
//!
//! ```no_run
//! # tern::block_on(async {
//! use tern::net::{UnixListener, UnixStream};
//! let listener = UnixListener::bind("/tmp/echo.sock")?;
//! let client = UnixStream::connect("/tmp/echo.sock").await?;
//! let (server, _) = listener.accept().await?;
//! client.write_all(b"ping").await?;
//! let mut buf = [0u8; 4];
//! server.read_exact(&mut buf).await?;
//! # std::io::Result::Ok(()) });
//! ```

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tern_runtime::sys::socket::SocketType;
use tern_runtime::sys::unix::{self, UnixAddr};

mod datagram;
mod stream;

pub use datagram::UnixDatagram;
pub use stream::{
    OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, UnixListener, UnixStream, WriteHalf,
};

/// The address of a Unix-domain socket: a filesystem path, an abstract
/// name, or none (unnamed: an unbound socket, the client end of a
/// connection, either end of a pair).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SocketAddr(UnixAddr);

impl SocketAddr {
    pub(crate) fn from_sys(addr: UnixAddr) -> SocketAddr {
        SocketAddr(addr)
    }

    /// Whether the socket has no name.
    pub fn is_unnamed(&self) -> bool {
        self.0 == UnixAddr::Unnamed
    }

    /// The filesystem path, if the address is one.
    pub fn as_pathname(&self) -> Option<&Path> {
        match &self.0 {
            UnixAddr::Pathname(p) => Some(Path::new(std::ffi::OsStr::from_bytes(p))),
            _ => None,
        }
    }

    /// The abstract-namespace name (without its leading NUL), if the
    /// address is one.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match &self.0 {
            UnixAddr::Abstract(n) => Some(n),
            _ => None,
        }
    }

    /// The raw `sun_path` bytes to send to or connect to this address.
    pub(crate) fn name(&self) -> io::Result<Vec<u8>> {
        match &self.0 {
            UnixAddr::Pathname(p) => Ok(p.clone()),
            UnixAddr::Abstract(n) => Ok(abstract_name(n)),
            UnixAddr::Unnamed => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an unnamed Unix socket has no address to send to",
            )),
        }
    }
}

impl fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            UnixAddr::Unnamed => f.write_str("(unnamed)"),
            UnixAddr::Pathname(p) => write!(f, "{}", String::from_utf8_lossy(p)),
            UnixAddr::Abstract(n) => write!(f, "@{}", n.escape_ascii()),
        }
    }
}

impl fmt::Debug for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            UnixAddr::Unnamed => f.write_str("(unnamed)"),
            _ => write!(f, "{:?}", self.to_string()),
        }
    }
}

/// The `sun_path` bytes of a path (abstract if its first byte is NUL).
fn path_name(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// The `sun_path` bytes of an abstract name: NUL, then the name.
fn abstract_name(name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(name.len() + 1);
    v.push(0);
    v.extend_from_slice(name);
    v
}

/// How `name` appears in messages: the path, or `@` and the abstract name.
fn describe(name: &[u8]) -> String {
    match name.split_first() {
        Some((0, rest)) => format!("@{}", rest.escape_ascii()),
        _ => String::from_utf8_lossy(name).into_owned(),
    }
}

/// Adds the operation and the name to an error.
fn ctx<'a>(op: &'a str, name: &'a [u8]) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{op} unix {}: {e}", describe(name)))
}

/// A new Unix-domain socket of type `ty` bound to `name` (`sun_path`
/// bytes); a failed bind names `name`.
fn bound_socket(ty: SocketType, name: &[u8]) -> io::Result<OwnedFd> {
    let fd = unix::socket(ty)?;
    unix::bind(fd.as_fd(), name).map_err(ctx("bind", name))?;
    Ok(fd)
}
