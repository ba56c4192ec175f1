//! Skeletons of replies to a query, for the test servers: the scripted
//! server (`scripted/mod.rs` includes this file) and the lossy one.

use tern::dns::wire::{Message, Rcode};

/// The skeleton of a reply to `q`: same ID and question, QR and RA set,
/// EDNS echoed if the query had it.
pub fn reply_to(q: &Message) -> Message {
    let mut m = Message {
        header: q.header,
        questions: q.questions.clone(),
        edns: q.edns.clone(),
        ..Message::default()
    };
    m.header.qr = true;
    m.header.ra = true;
    m
}

/// A reply with just an rcode.
pub fn rcode_reply(q: &Message, rcode: Rcode) -> Message {
    let mut m = reply_to(q);
    m.header.rcode = rcode;
    m
}
