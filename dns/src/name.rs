//! Domain names: [`Name`], parsed from text, shown as text, kept in wire form.
//!
//! # Implementation
//!
//! A `Name` holds its uncompressed wire form: each label as a length byte
//! (1..=63) followed by that many bytes, then the zero byte of the root
//! label, at most 255 bytes in all (RFC 1035 §3.1). Every constructor checks
//! this, so the rest of the crate — the encoder, [`Name::labels`], the
//! comparisons — can walk the bytes without re-checking. Names are always
//! fully qualified; whether the *text* a user typed ended in a dot matters only
//! to the search list, which works on that text (see `search_candidates`).
//!
//! Comparison, hashing and ordering ignore ASCII case (RFC 4343). Ordering is
//! the canonical DNS order of RFC 4034 §6.1: label by label from the root.
//! Label bytes are 8-bit clean on the wire; only text input is limited to
//! ASCII (non-ASCII text is refused rather than guessed at: tern does no IDNA).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::Error;

/// The longest a name may be in wire form, root byte included (RFC 1035).
pub const MAX_NAME_LEN: usize = 255;
/// The longest a single label may be (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// A fully qualified domain name, such as `www.example.com.`.
///
/// Parse one with [`str::parse`]; the trailing dot is optional and `"."` is
/// the root. Equality, hashing and ordering ignore ASCII case.
///
/// ```
/// use tern_dns::Name;
/// let name: Name = "WWW.Example.com".parse().unwrap();
/// assert_eq!(name.to_string(), "WWW.Example.com.");
/// assert_eq!(name, "www.example.com.".parse().unwrap());
/// assert_eq!(name.label_count(), 3);
/// ```
#[derive(Clone)]
pub struct Name {
    /// Uncompressed wire form, root byte included; see the module notes.
    wire: Wire,
}

/// Names this long or shorter in wire form (36 characters of text) are kept
/// inside the `Name` itself, with no allocation; most host names are.
const INLINE_LEN: usize = 38;

/// The storage of a name's wire form: inline when short, else on the heap.
#[derive(Clone)]
enum Wire {
    Inline { len: u8, bytes: [u8; INLINE_LEN] },
    Heap(Box<[u8]>),
}

impl Wire {
    fn new(wire: &[u8]) -> Wire {
        let mut bytes = [0u8; INLINE_LEN];
        match (bytes.get_mut(..wire.len()), u8::try_from(wire.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(wire);
                Wire::Inline { len, bytes }
            }
            _ => Wire::Heap(wire.into()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Wire::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(bytes),
            Wire::Heap(bytes) => bytes,
        }
    }
}

/// A name's wire form while it is being built, on the stack: room for the
/// longest name plus one byte, so a builder may push the byte that makes a
/// name too long and then refuse it.
struct Builder {
    bytes: [u8; MAX_NAME_LEN + 1],
    len: usize,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            bytes: [0; MAX_NAME_LEN + 1],
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Appends `byte`; a byte beyond the room is dropped, which callers
    /// prevent by checking the length first.
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn extend(&mut self, tail: &[u8]) {
        if let Some(slot) = self.bytes.get_mut(self.len..self.len + tail.len()) {
            slot.copy_from_slice(tail);
            self.len += tail.len();
        }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        self.bytes.get_mut(..len).unwrap_or(&mut [])
    }

    fn name(&self) -> Name {
        Name {
            wire: Wire::new(self.bytes.get(..self.len).unwrap_or(&[0])),
        }
    }
}

impl Name {
    /// The root name, `"."`.
    pub fn root() -> Name {
        Name {
            wire: Wire::new(&[0]),
        }
    }

    /// Builds a name from its labels, most specific first (`["www",
    /// "example", "com"]`). Labels may hold any bytes.
    ///
    /// Fails with [`Error::InvalidName`] on an empty label, a label longer
    /// than 63 bytes, or a name longer than 255 bytes in wire form.
    pub fn from_labels<I, L>(labels: I) -> Result<Name, Error>
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut wire = Vec::new();
        for label in labels {
            let label = label.as_ref();
            if label.is_empty() {
                return Err(invalid_labels(&wire, "empty label"));
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(invalid_labels(&wire, "label longer than 63 bytes"));
            }
            if wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
                return Err(invalid_labels(&wire, "name longer than 255 bytes"));
            }
            push_label(&mut wire, label);
        }
        wire.push(0);
        Ok(Name {
            wire: Wire::new(&wire),
        })
    }

    /// Copies wire bytes that the decoder has already checked.
    pub(crate) fn from_checked_wire(wire: &[u8]) -> Name {
        debug_assert!(is_valid_wire(wire), "decoder produced a bad name");
        Name {
            wire: Wire::new(wire),
        }
    }

    /// The name for reverse lookups of `ip`: `4.3.2.1.in-addr.arpa.` for
    /// `1.2.3.4`, and 32 nibble labels under `ip6.arpa.` for IPv6 (RFC 3596).
    pub fn reverse_of(ip: IpAddr) -> Name {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut wire = Vec::with_capacity(74);
        match ip {
            IpAddr::V4(v4) => {
                for octet in v4.octets().iter().rev() {
                    push_label(&mut wire, octet.to_string().as_bytes());
                }
                push_label(&mut wire, b"in-addr");
            }
            IpAddr::V6(v6) => {
                for byte in v6.octets().iter().rev() {
                    for nibble in [byte & 0x0f, byte >> 4] {
                        let digit = HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                        push_label(&mut wire, &[digit]);
                    }
                }
                push_label(&mut wire, b"ip6");
            }
        }
        push_label(&mut wire, b"arpa");
        wire.push(0);
        Name {
            wire: Wire::new(&wire),
        }
    }

    /// The uncompressed wire form, ending with the root's zero byte.
    pub fn as_wire(&self) -> &[u8] {
        self.wire.as_slice()
    }

    /// Length of the wire form in bytes (1 for the root, at most 255).
    pub fn wire_len(&self) -> usize {
        self.as_wire().len()
    }

    /// Whether this is the root name `"."`.
    pub fn is_root(&self) -> bool {
        self.as_wire().len() == 1
    }

    /// The labels, most specific first, without the empty root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            rest: self.as_wire(),
        }
    }

    /// How many labels the name has (0 for the root). For a name typed without
    /// a trailing dot this is one more than the number of dots in it.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// This name with `suffix` appended: `www` joined with `example.com.` is
    /// `www.example.com.`. Used to apply search domains.
    ///
    /// Fails with [`Error::InvalidName`] when the result would be longer than
    /// 255 bytes.
    pub fn join(&self, suffix: &Name) -> Result<Name, Error> {
        let own = self
            .as_wire()
            .split_last()
            .map_or(&[][..], |(_, labels)| labels);
        if own.len() + suffix.wire_len() > MAX_NAME_LEN {
            return Err(Error::InvalidName(format!(
                "\"{self}\" + \"{suffix}\": name longer than 255 bytes"
            )));
        }
        let mut wire = Builder::new();
        wire.extend(own);
        wire.extend(suffix.as_wire());
        Ok(wire.name())
    }

    /// Whether this name is `ancestor` or lies below it, ignoring case.
    /// Every name is a subdomain of the root.
    pub fn is_subdomain_of(&self, ancestor: &Name) -> bool {
        let mut mine: Vec<&[u8]> = self.labels().collect();
        let mut theirs: Vec<&[u8]> = ancestor.labels().collect();
        if theirs.len() > mine.len() {
            return false;
        }
        mine.reverse();
        theirs.reverse();
        mine.iter()
            .zip(theirs.iter())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

/// Appends one label (length byte, then bytes); callers check the limits.
fn push_label(wire: &mut Vec<u8>, label: &[u8]) {
    wire.push(u8::try_from(label.len()).unwrap_or(0));
    wire.extend_from_slice(label);
}

/// Whether `wire` keeps the invariants of [`Name::wire`].
fn is_valid_wire(wire: &[u8]) -> bool {
    if wire.len() > MAX_NAME_LEN {
        return false;
    }
    let mut rest = wire;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if len == 0 {
            return tail.is_empty();
        }
        if len > MAX_LABEL_LEN {
            return false;
        }
        match tail.get(len..) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    false
}

fn invalid_labels(so_far: &[u8], why: &str) -> Error {
    let mut wire = so_far.to_vec();
    wire.push(0);
    let shown = if is_valid_wire(&wire) {
        Name::from_checked_wire(&wire).to_string()
    } else {
        String::from("?")
    };
    Error::InvalidName(format!("after \"{shown}\": {why}"))
}

/// Iterator over the labels of a [`Name`], from [`Name::labels`].
#[derive(Clone, Debug)]
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let (label, after) = tail.split_at_checked(usize::from(len))?;
        if label.is_empty() {
            self.rest = &[];
            return None;
        }
        self.rest = after;
        Some(label)
    }
}

// ===== text =====

impl FromStr for Name {
    type Err = Error;

    /// Parses presentation format: labels separated by dots, an optional
    /// trailing dot, `\.` or `\X` for a literal character and `\DDD` for a
    /// byte in decimal. Only printable ASCII may appear unescaped.
    fn from_str(text: &str) -> Result<Name, Error> {
        let bad = |why: &str| Error::InvalidName(format!("{}: {why}", quote(text)));
        if text.is_empty() {
            return Err(bad("empty name"));
        }
        if text == "." {
            return Ok(Name::root());
        }
        parse_plain(text)
            .unwrap_or_else(|| parse_escaped(text))
            .map_err(bad)
    }
}

/// The general case of [`Name::from_str`], byte by byte, for any text but
/// the empty string and `"."`.
fn parse_escaped(text: &str) -> Result<Name, &'static str> {
    let mut wire = Builder::new();
    let mut label_start = 0;
    wire.push(0); // length byte of the first label, patched below
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        let byte = match b {
            b'.' => {
                let len = wire.len() - label_start - 1;
                if len == 0 {
                    return Err("empty label");
                }
                close_label(wire.as_mut(), label_start, len)?;
                if rest.is_empty() {
                    return finish(&mut wire);
                }
                label_start = wire.len();
                wire.push(0);
                continue;
            }
            b'\\' => {
                let (byte, tail) = unescape(rest)?;
                rest = tail;
                byte
            }
            b if b >= 0x80 => return Err("non-ASCII characters (use the A-label)"),
            b if !b.is_ascii_graphic() => {
                return Err("space or control character (escape it as \\DDD)")
            }
            b => b,
        };
        wire.push(byte);
        if wire.len() >= MAX_NAME_LEN {
            return Err("name longer than 255 bytes");
        }
    }
    let len = wire.len() - label_start - 1;
    close_label(wire.as_mut(), label_start, len)?;
    finish(&mut wire)
}

/// The common case of [`Name::from_str`], in one pass with no escapes to
/// decode: text of at most 253 bytes (so it cannot make a name too long)
/// holding only printable ASCII and no backslash. `None` for any other
/// text, which the general parser takes; the errors are the ones it gives.
fn parse_plain(text: &str) -> Option<Result<Name, &'static str>> {
    let bytes = text.as_bytes();
    if bytes.len() > MAX_NAME_LEN - 2 {
        return None;
    }
    let body = bytes.strip_suffix(b".").unwrap_or(bytes);
    let mut wire = Builder::new();
    // One pass: each byte is copied, each dot closes the label before it.
    let mut label_start = 0;
    wire.push(0); // length byte of the first label, patched at its end
    for &b in body {
        if b == b'.' {
            if let Err(e) = close_plain_label(&mut wire, label_start) {
                return Some(Err(e));
            }
            label_start = wire.len();
            wire.push(0);
        } else if b.is_ascii_graphic() && b != b'\\' {
            wire.push(b);
        } else {
            return None;
        }
    }
    if let Err(e) = close_plain_label(&mut wire, label_start) {
        return Some(Err(e));
    }
    Some(finish(&mut wire))
}

/// Ends the label whose length byte is at `start`: its length, checked.
fn close_plain_label(wire: &mut Builder, start: usize) -> Result<(), &'static str> {
    let len = wire.len() - start - 1;
    if len == 0 {
        return Err("empty label");
    }
    close_label(wire.as_mut(), start, len)
}

/// Writes the length byte of the label that starts at `start`.
fn close_label(wire: &mut [u8], start: usize, len: usize) -> Result<(), &'static str> {
    let len = u8::try_from(len)
        .ok()
        .filter(|&len| usize::from(len) <= MAX_LABEL_LEN)
        .ok_or("label longer than 63 bytes")?;
    if let Some(slot) = wire.get_mut(start) {
        *slot = len;
    }
    Ok(())
}

/// Appends the root byte that ends every name and checks the total length.
fn finish(wire: &mut Builder) -> Result<Name, &'static str> {
    if wire.len() >= MAX_NAME_LEN {
        return Err("name longer than 255 bytes");
    }
    wire.push(0);
    Ok(wire.name())
}

/// Decodes the escape after a backslash: `\DDD` or `\X`.
fn unescape(rest: &[u8]) -> Result<(u8, &[u8]), &'static str> {
    if let Some((digits, tail)) = rest.split_at_checked(3) {
        if digits.iter().all(u8::is_ascii_digit) {
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            let byte = u8::try_from(value).map_err(|_| "escape \\DDD above 255")?;
            return Ok((byte, tail));
        }
    }
    match rest.split_first() {
        Some((&b, _)) if b.is_ascii_digit() => Err("escape \\DDD needs three digits"),
        Some((&b, tail)) if b.is_ascii_graphic() || b == b' ' => Ok((b, tail)),
        Some(_) => Err("backslash before a non-printable character"),
        None => Err("dangling backslash at the end"),
    }
}

/// The user's text in quotes, shortened if huge, for error messages.
fn quote(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return format!("{text:?}");
    }
    let cut = (0..=MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!(
        "{:?}... ({} bytes)",
        text.get(..cut).unwrap_or(""),
        text.len()
    )
}

impl fmt::Display for Name {
    /// Presentation format with a trailing dot; special and non-printable
    /// bytes are escaped so that the text parses back to the same name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", char::from(b))?
                    }
                    b if b.is_ascii_graphic() => write!(f, "{}", char::from(b))?,
                    b => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

// ===== comparison =====

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        #[cfg(test)]
        test_counts::COMPARES.with(|c| c.set(c.get() + 1));
        self.as_wire().eq_ignore_ascii_case(other.as_wire())
    }
}

/// Counts for unit tests that bound work by counting it, not timing it.
#[cfg(test)]
pub(crate) mod test_counts {
    use std::cell::Cell;

    thread_local! {
        /// `Name` equality comparisons made on this thread.
        pub(crate) static COMPARES: Cell<u64> = const { Cell::new(0) };
    }

    /// Name comparisons `f` makes on this thread.
    pub(crate) fn compares_in(f: impl FnOnce()) -> u64 {
        let before = COMPARES.with(Cell::get);
        f();
        COMPARES.with(Cell::get) - before
    }
}

/// Up to eight bytes as a little-endian word, zero-padded (a short one
/// byte by byte: a copy of a variable length would call `memcpy`).
fn word(bytes: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(bytes) {
        Ok(w) => u64::from_le_bytes(w),
        Err(_) => bytes.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b)),
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Eight bytes at a time, lower-cased in the word: names equal but
        // for case give the same words. The last word carries the length.
        let wire = self.as_wire();
        let mut words = wire.chunks_exact(8);
        for chunk in &mut words {
            state.write_u64(lower_word(word(chunk)));
        }
        state.write_u64(lower_word(word(words.remainder())) ^ ((wire.len() as u64) << 56));
    }
}

/// `word` with each of its eight bytes lower-cased as
/// [`u8::to_ascii_lowercase`] does: `A`-`Z` gain the 0x20 bit, every other
/// byte (non-ASCII ones too) stays as it is.
fn lower_word(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Each byte's low seven bits; adding below 0x80 + 0x7f cannot carry
    // into the next byte.
    let low = word & !HIGH;
    let at_least_a = low + ONES * (0x80 - u64::from(b'A'));
    let above_z = low + ONES * (0x80 - u64::from(b'Z') - 1);
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

impl Ord for Name {
    /// Canonical DNS order (RFC 4034 §6.1): compare from the root label down,
    /// each label as lower-cased bytes.
    fn cmp(&self, other: &Name) -> Ordering {
        let mine: Vec<&[u8]> = self.labels().collect();
        let theirs: Vec<&[u8]> = other.labels().collect();
        for (a, b) in mine.iter().rev().zip(theirs.iter().rev()) {
            let a = a.iter().map(u8::to_ascii_lowercase);
            let b = b.iter().map(u8::to_ascii_lowercase);
            match a.cmp(b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        mine.len().cmp(&theirs.len())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
#[path = "name_tests.rs"]
mod tests;
