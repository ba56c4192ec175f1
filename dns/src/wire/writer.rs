//! A growing output buffer with name compression, for the encoder.
//!
//! # Implementation
//!
//! Every name written registers each of its suffixes (`www.example.com.`,
//! `example.com.`, `com.`) with the offset where it starts, as long as that
//! offset fits in a 14-bit pointer. A later name looks up its suffixes from
//! the longest down and, at the first hit, writes its remaining labels and a
//! pointer. Keys are the exact wire bytes, so compression never changes the
//! case of a name (mixed-case names simply compress less).

use std::collections::HashMap;

use crate::name::Name;

/// The highest offset a compression pointer can reach.
const MAX_POINTER_TARGET: usize = 0x3fff;

/// Output buffer plus the compression table; see the module notes.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    suffixes: HashMap<Vec<u8>, u16>,
}

impl Writer {
    /// An empty writer.
    #[cfg(test)]
    pub(crate) fn new() -> Writer {
        Writer::default()
    }

    /// A writer appending to `buf`.
    pub(crate) fn from_buf(buf: Vec<u8>) -> Writer {
        Writer {
            buf,
            suffixes: HashMap::new(),
        }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The finished message.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// Appends raw bytes.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one byte.
    pub(crate) fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    /// Appends a big-endian u16.
    pub(crate) fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Appends a big-endian u32.
    pub(crate) fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Overwrites the u16 at `at` (used for lengths known only afterwards).
    pub(crate) fn patch_u16(&mut self, at: usize, value: u16) {
        if let Some(slot) = self.buf.get_mut(at..at + 2) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
    }

    /// Cuts the buffer back to `len` bytes and forgets the names written
    /// after that point.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
        self.suffixes.retain(|_, &mut at| usize::from(at) < len);
    }

    /// Appends a name, compressed with a pointer to an earlier copy of one of
    /// its suffixes when `compress` is set. Either way its suffixes become
    /// available to later names.
    pub(crate) fn name(&mut self, name: &Name, compress: bool) {
        let wire = name.as_wire();
        let mut offset = 0;
        for label in name.labels() {
            let suffix = wire.get(offset..).unwrap_or(&[]);
            if compress {
                if let Some(&target) = self.suffixes.get(suffix) {
                    self.u16(0xc000 | target);
                    return;
                }
            }
            if let Ok(at) = u16::try_from(self.buf.len()) {
                if usize::from(at) <= MAX_POINTER_TARGET {
                    self.suffixes.entry(suffix.to_vec()).or_insert(at);
                }
            }
            // Labels of a Name are at most 63 bytes, so the length fits.
            self.u8(u8::try_from(label.len()).unwrap_or(0));
            self.bytes(label);
            offset += 1 + label.len();
        }
        self.u8(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        text.parse().unwrap()
    }

    #[test]
    fn compresses_shared_suffixes() {
        let mut w = Writer::new();
        w.name(&name("www.example.com"), true);
        w.name(&name("ftp.example.com"), true);
        w.name(&name("example.com"), true);
        w.name(&name("."), true);
        let out = w.finish();
        assert_eq!(
            out,
            b"\x03www\x07example\x03com\x00\x03ftp\xc0\x04\xc0\x04\x00".to_vec()
        );
    }

    #[test]
    fn case_is_kept() {
        let mut w = Writer::new();
        w.name(&name("example.com"), true);
        w.name(&name("EXAMPLE.com"), true);
        let out = w.finish();
        assert_eq!(out, b"\x07example\x03com\x00\x07EXAMPLE\xc0\x08".to_vec());
    }

    #[test]
    fn uncompressed_names_still_register() {
        let mut w = Writer::new();
        w.name(&name("a.example"), false);
        w.name(&name("a.example"), false);
        w.name(&name("b.example"), true);
        let out = w.finish();
        assert_eq!(
            out,
            b"\x01a\x07example\x00\x01a\x07example\x00\x01b\xc0\x02".to_vec()
        );
    }

    #[test]
    fn truncate_forgets_names() {
        let mut w = Writer::new();
        w.name(&name("keep"), true);
        let mark = w.len();
        w.name(&name("gone"), true);
        w.truncate(mark);
        w.name(&name("gone"), true);
        assert_eq!(w.finish(), b"\x04keep\x00\x04gone\x00".to_vec());
    }
}
