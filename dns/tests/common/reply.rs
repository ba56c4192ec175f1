//! Skeletons of replies to a query, for the test servers: the scripted
//! server (`scripted/mod.rs` includes this file) and the lossy one; and
//! the receive loop those servers share.

use std::net::SocketAddr;

use tern::dns::wire::{Message, Rcode};
use tern::net::UdpSocket;

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

/// The next query that arrives on `sock` and decodes (anything else is
/// skipped), with its sender; `buf` holds the datagram.
pub async fn next_query(sock: &UdpSocket, buf: &mut [u8]) -> (Message, SocketAddr) {
    loop {
        let Ok((n, from)) = sock.recv_from(buf).await else {
            continue;
        };
        if let Ok(query) = Message::decode(&buf[..n]) {
            return (query, from);
        }
    }
}
