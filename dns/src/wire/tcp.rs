//! DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): each message is
//! preceded by its length as a big-endian u16.
//!
//! The resolver writes `frame_tcp(query)` in one write, then reads two bytes,
//! asks [`tcp_frame_len`] how many follow, and reads exactly that many into a
//! buffer of that size (up to 65535 bytes: buffers grow to fit, nothing is
//! cut).

use super::decode_error::Problem;
use crate::error::{malformed, Error};

/// `msg` with its two-byte length prefix, ready to write to a TCP stream.
///
/// Fails with [`Error::Malformed`] if `msg` is longer than the 65535 bytes a
/// prefix can announce.
pub fn frame_tcp(msg: &[u8]) -> Result<Vec<u8>, Error> {
    let len =
        u16::try_from(msg.len()).map_err(|_| malformed("message", 0, Problem::MessageTooLong))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    Ok(framed)
}

/// The message length announced by the first two bytes of `buf`, or `None`
/// if fewer than two bytes have arrived yet.
pub fn tcp_frame_len(buf: &[u8]) -> Option<usize> {
    match buf {
        [hi, lo, ..] => Some(usize::from(u16::from_be_bytes([*hi, *lo]))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_parses() {
        let framed = frame_tcp(b"abc").unwrap();
        assert_eq!(framed, b"\x00\x03abc");
        assert_eq!(tcp_frame_len(&framed), Some(3));
        assert_eq!(tcp_frame_len(b"\xff\xff"), Some(65535));
        assert_eq!(tcp_frame_len(b"\x01"), None);
        assert_eq!(tcp_frame_len(b""), None);
        assert_eq!(frame_tcp(&[]).unwrap(), vec![0, 0]);
        assert_eq!(frame_tcp(&vec![0; 65535]).unwrap().len(), 65537);
        assert!(frame_tcp(&vec![0; 65536]).is_err());
    }
}
