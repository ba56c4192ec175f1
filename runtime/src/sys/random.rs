//! Random bytes from the kernel (`getrandom(2)`), for DNS query IDs.

use std::io;

/// Fills `buf` with random bytes from the kernel's CSPRNG.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`.
        match syscall!(unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) }) {
            Ok(n) => filled += n as usize,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A random `u16` from the kernel.
pub fn u16() -> io::Result<u16> {
    let mut b = [0u8; 2];
    fill(&mut b)?;
    Ok(u16::from_ne_bytes(b))
}
