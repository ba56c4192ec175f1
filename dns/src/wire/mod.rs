//! The DNS wire format (RFC 1035 §4, RFC 6891): [`Message`] to bytes and back.
//!
//! ```
//! use tern_dns::wire::Message;
//! use tern_dns::{Name, RecordType};
//!
//! let name: Name = "example.com".parse().unwrap();
//! let query = Message::query(0x1234, &name, RecordType::AAAA, Some(1232));
//! let bytes = query.encode();
//! assert_eq!(Message::decode(&bytes).unwrap(), query);
//! ```
//!
//! # Decoding hostile input
//!
//! The network is hostile, so [`Message::decode`] never panics and never
//! trusts a count or a length: it never indexes out of bounds (see
//! `reader.rs`), follows compression pointers only backwards, caps names at
//! 255 bytes and labels at 63, rejects the label types 0x40 and 0x80, makes
//! each record's data fill its RDLENGTH exactly, sizes its vectors by the
//! bytes actually left rather than by the counts in the header, and rejects
//! trailing bytes after the last record. Every failure is
//! [`Error::Malformed`] with a [`DecodeError`] naming what was being read,
//! where, and what was wrong; it allocates nothing.
//!
//! Records of classes other than IN are skipped (tern only asks class-IN
//! questions); the OPT record becomes [`Message::edns`].

pub mod cookie;
mod decode_error;
mod display;
mod edns;
mod header;
mod rdata;
mod reader;
mod tcp;
mod writer;

pub use decode_error::{DecodeError, Problem};
pub use edns::{Edns, OPT};
pub use header::{Header, Rcode, HEADER_LEN, OPCODE_QUERY};
pub use tcp::{frame_tcp, tcp_frame_len};

use crate::error::{malformed, Error};
use crate::name::Name;
use crate::record::{Record, RecordType};
use reader::Reader;
use writer::Writer;

/// The class of Internet records, the only one tern asks for.
pub const CLASS_IN: u16 = 1;

/// The smallest a record can be on the wire: root owner name, type, class,
/// TTL and RDLENGTH.
const MIN_RECORD_LEN: usize = 11;

/// A question: which name, which type, which class.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Question {
    /// The name asked about.
    pub name: Name,
    /// The type asked for.
    pub qtype: RecordType,
    /// The class, normally [`CLASS_IN`].
    pub qclass: u16,
}

/// A whole DNS message, query or reply.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Message {
    /// ID and flags.
    pub header: Header,
    /// The question section (one question in practice).
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section (NS, or the SOA of a negative answer).
    pub authorities: Vec<Record>,
    /// The additional section, without the OPT record.
    pub additionals: Vec<Record>,
    /// The EDNS(0) OPT record, if the message has one.
    pub edns: Option<Edns>,
}

impl Message {
    /// A recursive query (RD set) for `name`/`rtype` in class IN, with an
    /// EDNS(0) OPT record offering `edns_payload` bytes if one is given.
    pub fn query(id: u16, name: &Name, rtype: RecordType, edns_payload: Option<u16>) -> Message {
        Message {
            header: Header::query(id),
            questions: vec![Question {
                name: name.clone(),
                qtype: rtype,
                qclass: CLASS_IN,
            }],
            edns: edns_payload.map(Edns::new),
            ..Message::default()
        }
    }

    /// The full response code: the header's 4 bits extended by EDNS's 8.
    pub fn rcode(&self) -> Rcode {
        let ext = self.edns.as_ref().map_or(0, |e| u16::from(e.ext_rcode));
        Rcode((ext << 4) | (self.header.rcode.0 & 0x0f))
    }

    /// Decodes a whole message; see the module notes for what is checked.
    pub fn decode(msg: &[u8]) -> Result<Message, Error> {
        match Message::decode_staged(msg, |_| Ok::<(), std::convert::Infallible>(())) {
            Staged::Done(message) => Ok(message),
            Staged::HeadFailed(e) | Staged::RestFailed(_, e) => Err(e),
            Staged::Rejected(never) => match never {},
        }
    }

    /// Decodes the header and the questions, lets `check` judge them, and
    /// only then decodes the rest: each byte is read once, and a message
    /// `check` rejects costs no more than its head.
    pub(crate) fn decode_staged<E>(
        msg: &[u8],
        check: impl FnOnce(&Message) -> Result<(), E>,
    ) -> Staged<E> {
        let mut r = Reader::new(msg);
        let (message, counts) = match decode_head(&mut r) {
            Ok(head) => head,
            Err(e) => return Staged::HeadFailed(e),
        };
        if let Err(e) = check(&message) {
            return Staged::Rejected(e);
        }
        decode_rest(&mut r, counts, message)
    }

    /// Decodes a reply to the query that asked `name`/`qtype` in class IN
    /// with one question, as [`Message::decode_staged`] does with a check
    /// that the question is echoed, but compares the question on the wire
    /// instead of decoding it when it is the name's bytes as sent, equal
    /// ignoring ASCII case, as decoded names compare (any other question
    /// name, a compressed one say, is decoded and compared). With
    /// `questionless_ok` a reply without a question section passes too. A
    /// question that is not ours is `Rejected(mismatch)`.
    ///
    /// The returned message's question section is left empty when the echo
    /// was byte for byte (the caller has that question: it sent it), and
    /// holds the echoed question when it differs in case, so a caller that
    /// randomised the case can tell.
    pub(crate) fn decode_echoing<E>(
        msg: &[u8],
        name: &Name,
        qtype: RecordType,
        questionless_ok: bool,
        mismatch: E,
    ) -> Staged<E> {
        let mut r = Reader::new(msg);
        let (header, counts) = match decode_header(&mut r) {
            Ok(head) => head,
            Err(e) => return Staged::HeadFailed(e),
        };
        let mut message = Message {
            header,
            ..Message::default()
        };
        match counts[0] {
            0 if questionless_ok => {}
            1 => {
                let wire = name.as_wire();
                // The usual echo is the name's bytes as sent: compared
                // in place. Length bytes are below 64, so folding ASCII
                // case leaves them be: equal ignoring case means the same
                // labels. Anything else (a compressed name, another name)
                // is decoded and compared as `validate_reply` compares it.
                let at = r.pos();
                let in_place = msg
                    .get(at..at + wire.len())
                    .filter(|echoed| echoed.eq_ignore_ascii_case(wire));
                let echo = (|| {
                    let echoed = match in_place {
                        Some(bytes) => {
                            r.bytes(bytes.len(), "question name")?;
                            if bytes == wire {
                                // Answers point at it: read as `name`.
                                r.know(at, name);
                                Echo::Exact
                            } else {
                                Echo::OtherCase(bytes)
                            }
                        }
                        None => Echo::Decoded(r.name("question name")?),
                    };
                    let qt = r.u16("question type")?;
                    let qclass = r.u16("question class")?;
                    Ok((echoed, qt, qclass))
                })();
                let (echoed, qt, qclass) = match echo {
                    Ok(echo) => echo,
                    Err(e) => return Staged::HeadFailed(e),
                };
                if qt != qtype.to_u16() || qclass != CLASS_IN {
                    return Staged::Rejected(mismatch);
                }
                // The echoed name, unless it is the one sent byte for byte.
                let other_case = match echoed {
                    Echo::Exact => None,
                    Echo::OtherCase(bytes) => Some(Name::from_checked_wire(bytes)),
                    Echo::Decoded(decoded) if decoded != *name => {
                        return Staged::Rejected(mismatch)
                    }
                    Echo::Decoded(decoded) => Some(decoded).filter(|d| d.as_wire() != wire),
                };
                if let Some(name) = other_case {
                    message.questions.push(Question {
                        name,
                        qtype,
                        qclass,
                    });
                }
            }
            _ => return Staged::Rejected(mismatch),
        }
        decode_rest(&mut r, counts, message)
    }

    /// Decodes the header and the question section only, leaving the other
    /// sections empty. Enough to match a reply to its query, and to act on a
    /// truncated (TC) reply whose later sections may be cut short.
    pub fn decode_question(msg: &[u8]) -> Result<Message, Error> {
        decode_head(&mut Reader::new(msg)).map(|(message, _)| message)
    }

    /// Encodes the message, compressing names.
    ///
    /// Never fails. Limits the wire cannot express are handled so: TXT
    /// strings longer than 255 bytes are split into 255-byte strings, a
    /// record whose data would exceed 65535 bytes is left out, and a section
    /// keeps at most 65535 entries. The counts always match what was written.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_option(&[])
    }

    /// Encodes the message as [`Message::encode`] does, with `option` (one
    /// whole EDNS option: code, length, data) added after the OPT record's
    /// own options; `option` is left out if the message has no OPT record,
    /// or if it would not fit. The message itself is not changed: this is
    /// how the resolver adds its COOKIE option ([`cookie::Cookie::option`])
    /// at no allocation cost. The output buffer is sized up front for the
    /// header, the questions and the OPT record (all a query has).
    pub fn encode_with_option(&self, option: &[u8]) -> Vec<u8> {
        self.encode_into(option, Vec::new())
    }

    /// [`encode_with_option`](Message::encode_with_option) into `buf`,
    /// which is cleared first: a caller that keeps its sent buffers encodes
    /// with no allocation.
    pub(crate) fn encode_into(&self, option: &[u8], mut buf: Vec<u8>) -> Vec<u8> {
        let names: usize = self.questions.iter().map(|q| q.name.wire_len() + 4).sum();
        let opt = self
            .edns
            .as_ref()
            .map_or(0, |e| 11 + e.options.len() + option.len());
        buf.clear();
        buf.reserve(HEADER_LEN + names + opt);
        let mut w = Writer::from_buf(buf);
        w.u16(self.header.id);
        w.u16(self.header.flag_bits());
        w.bytes(&[0; 8]); // counts, patched below
        let mut qdcount: u16 = 0;
        // A query's one name has nothing to share suffixes with: written
        // as it is, without filling the compression table.
        let lone_name = self.questions.len() == 1
            && self.answers.is_empty()
            && self.authorities.is_empty()
            && self.additionals.is_empty();
        for q in self.questions.iter().take(usize::from(u16::MAX)) {
            if lone_name {
                w.bytes(q.name.as_wire());
            } else {
                w.name(&q.name, true);
            }
            w.u16(q.qtype.to_u16());
            w.u16(q.qclass);
            qdcount += 1;
        }
        let ancount = encode_records(&mut w, &self.answers, u16::MAX);
        let nscount = encode_records(&mut w, &self.authorities, u16::MAX);
        let room = if self.edns.is_some() {
            u16::MAX - 1
        } else {
            u16::MAX
        };
        let mut arcount = encode_records(&mut w, &self.additionals, room);
        if let Some(edns) = &self.edns {
            if encode_opt(&mut w, edns, option) {
                arcount += 1;
            }
        }
        for (at, count) in [(4, qdcount), (6, ancount), (8, nscount), (10, arcount)] {
            w.patch_u16(at, count);
        }
        w.finish()
    }
}

/// Which section records come from; OPT is allowed only in the last.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Section {
    Answer,
    Authority,
    Additional,
}

impl Section {
    fn owner(self) -> &'static str {
        match self {
            Section::Answer => "owner name of an answer record",
            Section::Authority => "owner name of an authority record",
            Section::Additional => "owner name of an additional record",
        }
    }
}

/// What [`Message::decode_staged`] came to.
#[derive(Debug)]
pub(crate) enum Staged<E> {
    /// The header or the questions could not be read.
    HeadFailed(Error),
    /// The check rejected the head.
    Rejected(E),
    /// The head passed, the rest could not be read: the head alone, and why.
    RestFailed(Message, Error),
    /// The whole message.
    Done(Message),
}

/// How a reply's question name echoed ours ([`Message::decode_echoing`]).
enum Echo<'m> {
    /// Byte for byte, in place.
    Exact,
    /// In place, in other case.
    OtherCase(&'m [u8]),
    /// Not in place (compressed, or another name): decoded.
    Decoded(Name),
}

/// Reads the answer, authority and additional sections (`counts` from
/// the header) into `message`, whose head has been read.
fn decode_rest<E>(r: &mut Reader<'_>, counts: [u16; 4], mut message: Message) -> Staged<E> {
    let [_, an, ns, ar] = counts;
    let rest = (|| {
        message.answers = decode_records(r, an, Section::Answer, &mut message.edns)?;
        message.authorities = decode_records(r, ns, Section::Authority, &mut message.edns)?;
        message.additionals = decode_records(r, ar, Section::Additional, &mut message.edns)?;
        if r.remaining() != 0 {
            return Err(malformed("message", r.pos(), Problem::TrailingData));
        }
        Ok(())
    })();
    match rest {
        Ok(()) => Staged::Done(message),
        Err(e) => {
            message.answers.clear();
            message.authorities.clear();
            message.additionals.clear();
            message.edns = None;
            Staged::RestFailed(message, e)
        }
    }
}

/// Encodes the query [`Message::query`] makes for these arguments, `edns`
/// being the payload to offer and an option to add as
/// [`Message::encode_with_option`] adds it, into `buf` (cleared first):
/// the same bytes, without building the message.
pub(crate) fn encode_query(
    id: u16,
    name: &Name,
    qtype: RecordType,
    edns: Option<(u16, &[u8])>,
    mut buf: Vec<u8>,
) -> Vec<u8> {
    let wire = name.as_wire();
    let opt = edns.map_or(0, |(_, option)| 11 + option.len());
    buf.clear();
    buf.reserve(HEADER_LEN + wire.len() + 4 + opt);
    let mut w = Writer::from_buf(buf);
    w.u16(id);
    w.u16(Header::query(id).flag_bits());
    w.u16(1);
    w.bytes(&[0; 6]); // no answers, no authorities; additionals below
    w.bytes(wire);
    w.u16(qtype.to_u16());
    w.u16(CLASS_IN);
    if let Some((payload, option)) = edns {
        if encode_opt(&mut w, &Edns::new(payload), option) {
            w.patch_u16(10, 1);
        }
    }
    w.finish()
}

/// Reads the header: ID and flags, and the four section counts.
fn decode_header(r: &mut Reader<'_>) -> Result<(Header, [u16; 4]), Error> {
    let id = r.u16("header")?;
    let flags = r.u16("header")?;
    let mut counts = [0u16; 4];
    for count in &mut counts {
        *count = r.u16("header")?;
    }
    Ok((Header::from_bits(id, flags), counts))
}

/// Reads the header, the counts and the questions.
fn decode_head(r: &mut Reader<'_>) -> Result<(Message, [u16; 4]), Error> {
    let (header, counts) = decode_header(r)?;
    let [qd, ..] = counts;
    // Grown as questions decode, so a first question that fails allocates
    // nothing (a reply has one question in practice).
    let mut questions = Vec::new();
    for _ in 0..qd {
        let name = r.name("question name")?;
        let qtype = RecordType::from_u16(r.u16("question type")?);
        let qclass = r.u16("question class")?;
        questions.push(Question {
            name,
            qtype,
            qclass,
        });
    }
    let message = Message {
        header,
        questions,
        ..Message::default()
    };
    Ok((message, counts))
}

/// Reads `count` records of one section, taking any OPT record out into
/// `edns` and skipping records of classes other than IN.
fn decode_records(
    r: &mut Reader<'_>,
    count: u16,
    section: Section,
    edns: &mut Option<Edns>,
) -> Result<Vec<Record>, Error> {
    // Allocated at the first record kept: an additional section holding
    // only the OPT record (the usual one) allocates nothing.
    let mut records = Vec::new();
    let room = usize::from(count).min(r.remaining() / MIN_RECORD_LEN);
    for _ in 0..count {
        let start = r.pos();
        let name = r.name(section.owner())?;
        let rtype = r.u16("record type")?;
        let class = r.u16("record class")?;
        let ttl = r.u32("record TTL")?;
        let rdlength = r.u16("record data length")?;
        let data = r.sub(usize::from(rdlength), "record data")?;
        if rtype == OPT {
            if section != Section::Additional || !name.is_root() || edns.is_some() {
                return Err(malformed("OPT record", start, Problem::MisplacedOpt));
            }
            let mut data = data;
            *edns = Some(Edns::from_opt(class, ttl, data.rest()));
            continue;
        }
        if class != CLASS_IN {
            continue;
        }
        let data = rdata::decode(rtype, data)?;
        if records.capacity() == 0 {
            records = Vec::with_capacity(room);
        }
        records.push(Record { name, ttl, data });
    }
    Ok(records)
}

/// Writes up to `max` records and returns how many were written.
fn encode_records(w: &mut Writer, records: &[Record], max: u16) -> u16 {
    let mut written: u16 = 0;
    for record in records {
        if written == max {
            break;
        }
        let start = w.len();
        w.name(&record.name, true);
        w.u16(record.rtype().to_u16());
        w.u16(CLASS_IN);
        w.u32(record.ttl);
        if write_rdata(w, start, |w| rdata::encode(&record.data, w)) {
            written += 1;
        }
    }
    written
}

/// Writes the OPT record with its options and then `extra`; if that does
/// not fit, without `extra`; false if even its own options did not fit.
fn encode_opt(w: &mut Writer, edns: &Edns, extra: &[u8]) -> bool {
    let start = w.len();
    w.u8(0); // root owner
    w.u16(OPT);
    w.u16(edns.payload);
    w.u32(edns.ttl_bits());
    let fits = edns.options.len() + extra.len() <= usize::from(u16::MAX);
    let extra = if fits { extra } else { &[] };
    write_rdata(w, start, |w| {
        w.bytes(&edns.options);
        w.bytes(extra);
    })
}

/// Writes RDLENGTH and the data; if the data is over 65535 bytes, removes
/// the whole record (from `record_start`) and returns false.
fn write_rdata(w: &mut Writer, record_start: usize, data: impl FnOnce(&mut Writer)) -> bool {
    let length_at = w.len();
    w.u16(0);
    data(w);
    match u16::try_from(w.len() - length_at - 2) {
        Ok(len) => {
            w.patch_u16(length_at, len);
            true
        }
        Err(_) => {
            w.truncate(record_start);
            false
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
