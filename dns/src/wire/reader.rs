//! A bounds-checked cursor over a received message, for the decoder.
//!
//! # Implementation
//!
//! Nothing here indexes: every read goes through `get` or
//! `split_at_checked` and a short read becomes [`Error::Malformed`] with a
//! [`DecodeError`](super::DecodeError) naming what was being read and at
//! which offset; nothing is allocated for a read that fails. A reader has a window `pos..end`
//! inside the whole message; the decoder opens a narrower window for each
//! record's data so that the data must be consumed exactly, while names in
//! it may still point backwards anywhere into the message.
//!
//! Compression pointers (RFC 1035 §4.1.4) are followed only strictly
//! backwards: a pointer must target an offset before the start of the name
//! segment being read, and each jump lowers that bound further. A pointer
//! into the segment itself would make the reader pass the same pointer again,
//! so this rule loses no valid message and makes loops impossible. It does
//! not bound the work: a chain of pointers each pointing at the one before
//! costs a hop per two bytes of message, so a name may take at most
//! [`MAX_POINTER_HOPS`] jumps (a name has at most 127 labels, so a valid one
//! never needs more).

use super::decode_error::Problem;
use crate::error::{malformed, Error};
use crate::name::{Name, MAX_NAME_LEN};

/// Most compression pointers followed while reading one name: one per
/// label of the longest possible name.
pub(crate) const MAX_POINTER_HOPS: usize = 127;

/// Cursor over `msg[pos..end]`; see the module notes.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
    end: usize,
    /// A name whose uncompressed wire form is known to sit at an offset of
    /// `msg` (see [`know`](Reader::know)).
    known: Option<(usize, &'a Name)>,
}

impl<'a> Reader<'a> {
    /// A reader over the whole message.
    pub(crate) fn new(msg: &'a [u8]) -> Reader<'a> {
        Reader {
            msg,
            pos: 0,
            end: msg.len(),
            known: None,
        }
    }

    /// Records that `msg[at..]` begins with `name`'s wire form, byte for
    /// byte (the caller compared them): a name that is just a pointer to
    /// `at` then reads as `name` without walking its labels again. The
    /// result is the one the walk gives: the same bytes, under the same
    /// pointer rules.
    pub(crate) fn know(&mut self, at: usize, name: &'a Name) {
        self.known = Some((at, name));
    }

    /// Offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left in the window.
    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// A reader over the next `len` bytes, which this reader skips.
    pub(crate) fn sub(&mut self, len: usize, what: &'static str) -> Result<Reader<'a>, Error> {
        if len > self.remaining() {
            return Err(malformed(what, self.pos, Problem::ShortInput));
        }
        let sub = Reader {
            msg: self.msg,
            pos: self.pos,
            end: self.pos + len,
            known: self.known,
        };
        self.pos += len;
        Ok(sub)
    }

    /// The next `len` bytes.
    pub(crate) fn bytes(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let window = self.msg.get(self.pos..self.end).unwrap_or(&[]);
        match window.split_at_checked(len) {
            Some((taken, _)) => {
                self.pos += len;
                Ok(taken)
            }
            None => Err(malformed(what, self.pos, Problem::ShortInput)),
        }
    }

    /// The rest of the window.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.msg.get(self.pos..self.end).unwrap_or(&[]);
        self.pos = self.end.max(self.pos);
        rest
    }

    /// One byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        let bytes = self.bytes(1, what)?;
        Ok(bytes.first().copied().unwrap_or(0))
    }

    /// A big-endian u16.
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let bytes = self.bytes(2, what)?;
        let mut out = [0u8; 2];
        out.copy_from_slice(bytes);
        Ok(u16::from_be_bytes(out))
    }

    /// A big-endian u32.
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let bytes = self.bytes(4, what)?;
        let mut out = [0u8; 4];
        out.copy_from_slice(bytes);
        Ok(u32::from_be_bytes(out))
    }

    /// A possibly compressed domain name.
    pub(crate) fn name(&mut self, what: &'static str) -> Result<Name, Error> {
        let msg = self.msg;
        let start = self.pos;
        // A pointer to the known name (an answer's owner pointing at the
        // question, usually): backwards, inside the window, one hop.
        if let Some((at, known)) = self.known {
            let head = msg.get(start..(start + 2).min(self.end));
            if let Some(&[hi, lo]) = head {
                let target = usize::from(u16::from_be_bytes([hi & 0x3f, lo]));
                if hi & 0xc0 == 0xc0 && target == at && at < start {
                    self.pos = start + 2;
                    return Ok(known.clone());
                }
            }
        }
        // Labels are checked one by one but copied a run at a time: each
        // stretch of labels up to a pointer (or the root byte) is already
        // in wire form. A name without pointers is copied once, straight
        // into the `Name`; one with pointers is gathered on the stack and
        // copied out only when it is whole, so a name that fails allocates
        // nothing.
        let mut wire = [0u8; MAX_NAME_LEN];
        let mut used = 0;
        let mut pos = self.pos;
        // Where the run of labels being read began.
        let mut run = pos;
        // Reads past `bound` fail: the window end before the first jump, the
        // message end after it (pointers may lead anywhere earlier).
        let mut bound = self.end.min(msg.len());
        // Pointers must target offsets below `limit`.
        let mut limit = start;
        let mut jumped = false;
        let mut hops = 0usize;
        let short = |at: usize| malformed(what, at, Problem::ShortInput);
        let byte_at = |at: usize, bound: usize| -> Result<u8, Error> {
            msg.get(at)
                .copied()
                .filter(|_| at < bound)
                .ok_or_else(|| short(at))
        };
        loop {
            let len = byte_at(pos, bound)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    // The root byte ends the last run; `used` + the run
                    // is at most 255 (checked label by label).
                    let last = msg.get(run..=pos).ok_or_else(|| short(pos))?;
                    if !jumped {
                        self.pos = pos + 1;
                        return Ok(Name::from_checked_wire(last));
                    }
                    let whole = append(&mut wire, used, last)
                        .ok_or_else(|| malformed(what, start, Problem::NameTooLong))?;
                    return Ok(Name::from_checked_wire(whole));
                }
                0x00 => {
                    let next = pos + 1 + usize::from(len);
                    if next > bound {
                        return Err(short(pos));
                    }
                    // Room must stay for the root byte that ends the name.
                    if used + (next - run) >= MAX_NAME_LEN {
                        return Err(malformed(what, start, Problem::NameTooLong));
                    }
                    pos = next;
                }
                0xc0 => {
                    let low = byte_at(pos + 1, bound)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    if target >= limit {
                        return Err(malformed(what, pos, Problem::PointerNotBackwards));
                    }
                    hops += 1;
                    if hops > MAX_POINTER_HOPS {
                        return Err(malformed(what, pos, Problem::TooManyPointers));
                    }
                    let labels = msg.get(run..pos).ok_or_else(|| short(pos))?;
                    used = append(&mut wire, used, labels)
                        .ok_or_else(|| malformed(what, start, Problem::NameTooLong))?
                        .len();
                    if !jumped {
                        self.pos = pos + 2;
                        jumped = true;
                        bound = msg.len();
                    }
                    limit = target;
                    pos = target;
                    run = target;
                }
                _ => return Err(malformed(what, pos, Problem::LabelType(len & 0xc0))),
            }
        }
    }
}

/// Copies `bytes` into `wire` after its first `used` bytes; the filled
/// part, or `None` if it does not fit.
fn append<'w>(wire: &'w mut [u8], used: usize, bytes: &[u8]) -> Option<&'w [u8]> {
    let end = used + bytes.len();
    wire.get_mut(used..end)?.copy_from_slice(bytes);
    wire.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_name(msg: &[u8], at: usize) -> Result<Name, Error> {
        let mut r = Reader::new(msg);
        r.bytes(at, "skip")?;
        r.name("name")
    }

    /// A known name changes no result: pointers to it, to a suffix of it
    /// and to another name read as the walk reads them, with or without
    /// the name known; the cursor ends in the same place.
    #[test]
    fn a_known_name_reads_as_the_walk_does() {
        // 12 bytes of header, "host.bench.test" at 12, then names: a
        // pointer to 12, a pointer to "bench.test" (17), a label and a
        // pointer to 12, another name, a pointer to that one, and a
        // pointer cut short by the end of the message.
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x04host\x05bench\x04test\x00");
        let names_at = msg.len();
        msg.extend_from_slice(b"\xc0\x0c\xc0\x11\x03www\xc0\x0c");
        let other = msg.len();
        msg.extend_from_slice(b"\x02ns\x00");
        msg.extend_from_slice(&[0xc0, other as u8, 0xc0]);
        let host: Name = "host.bench.test".parse().unwrap();
        let read_all = |known: bool| {
            let mut r = Reader::new(&msg);
            if known {
                r.know(12, &host);
            }
            r.bytes(names_at, "skip").unwrap();
            let mut got = Vec::new();
            for _ in 0..6 {
                got.push(
                    r.name("name")
                        .map(|n| n.to_string())
                        .map_err(|e| e.to_string()),
                );
            }
            (got, r.pos())
        };
        let (walked, end) = read_all(false);
        assert_eq!(read_all(true), (walked.clone(), end));
        assert_eq!(walked[0].as_deref(), Ok("host.bench.test."));
        assert_eq!(walked[1].as_deref(), Ok("bench.test."));
        assert_eq!(walked[2].as_deref(), Ok("www.host.bench.test."));
        assert_eq!(walked[3].as_deref(), Ok("ns."));
        assert_eq!(walked[4].as_deref(), Ok("ns."));
        assert!(walked[5].is_err(), "a cut pointer: {:?}", walked[5]);
    }

    #[test]
    fn plain_and_compressed() {
        let msg = b"\x03www\x07example\x00\x03ftp\xc0\x04";
        let n = read_name(msg, 0).unwrap();
        assert_eq!(n.to_string(), "www.example.");
        let mut r = Reader::new(msg);
        r.bytes(13, "skip").unwrap();
        assert_eq!(r.name("n").unwrap().to_string(), "ftp.example.");
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn pointer_rules() {
        // Pointer to itself.
        assert!(read_name(b"\xc0\x00", 0).is_err());
        // Forward pointer.
        assert!(read_name(b"\xc0\x02\x00", 0).is_err());
        // Pointer into its own name (a loop through a label).
        assert!(read_name(b"\x01a\xc0\x00", 0).is_err());
        // Two pointers bouncing between each other.
        let msg = b"\xc0\x02\xc0\x00";
        assert!(read_name(msg, 2).is_err());
        // Truncated pointer.
        assert!(read_name(b"\x00\xc0", 1).is_err());
        // Reserved label types.
        assert!(read_name(b"\x41a\x00", 0).is_err());
        assert!(read_name(b"\x81a\x00", 0).is_err());
    }

    #[test]
    fn chain_of_backward_pointers_works() {
        // "a." at 0, "b" + ptr(0) at 3, "c" + ptr(3) at 7.
        let msg = b"\x01a\x00\x01b\xc0\x00\x01c\xc0\x03";
        assert_eq!(read_name(msg, 7).unwrap().to_string(), "c.b.a.");
    }

    #[test]
    fn length_limit() {
        let mut msg = Vec::new();
        for _ in 0..4 {
            msg.push(63);
            msg.extend_from_slice(&[b'x'; 63]);
        }
        msg.push(0);
        let err = read_name(&msg, 0).unwrap_err();
        assert!(err.to_string().contains("longer than 255"), "{err}");
        // 255 exactly is fine.
        let mut ok = Vec::new();
        for _ in 0..3 {
            ok.push(63);
            ok.extend_from_slice(&[b'x'; 63]);
        }
        ok.push(61);
        ok.extend_from_slice(&[b'y'; 61]);
        ok.push(0);
        assert_eq!(read_name(&ok, 0).unwrap().wire_len(), 255);
    }

    #[test]
    fn sub_window_bounds_reads() {
        let msg = b"\x01a\x00\x00\x05";
        let mut r = Reader::new(msg);
        let mut sub = r.sub(2, "rdata").unwrap();
        assert!(
            sub.name("name").is_err(),
            "name must stay inside its window"
        );
        assert_eq!(r.u16("x").unwrap(), 0);
        assert_eq!(r.u8("y").unwrap(), 5);
        assert!(r.u8("z").is_err());
        let mut r = Reader::new(msg);
        assert!(r.sub(6, "rdata").is_err());
    }

    #[test]
    fn pointer_hops_are_capped() {
        // The root at 0, then pointers each to the one before: the name read
        // at the last pointer follows `n` hops.
        let chain = |n: usize| {
            let mut msg = vec![0u8];
            for i in 0..n {
                let target = if i == 0 { 0 } else { 1 + 2 * (i - 1) };
                msg.extend_from_slice(&[0xc0 | (target >> 8) as u8, target as u8]);
            }
            msg
        };
        let ok = chain(MAX_POINTER_HOPS);
        assert!(read_name(&ok, ok.len() - 2).unwrap().is_root());
        let long = chain(MAX_POINTER_HOPS + 1);
        let err = read_name(&long, long.len() - 2).unwrap_err();
        assert!(err.to_string().contains("compression pointers"), "{err}");
    }
}
