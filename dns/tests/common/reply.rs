//! Skeletons of replies to a query, for the test servers: the scripted
//! server (`scripted/mod.rs` includes this file) and the lossy one; and
//! the receive loop those servers share.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern::dns::wire::{Message, Rcode};
use tern::dns::{RData, Record};
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

/// A server on a std thread (outside any runtime, its allocations on its
/// own thread), answering every query with one A record for `ip` until
/// `stop` is set; returns its address. Its OPT record carries no options,
/// as nsd answers by default.
pub fn answering_thread(ip: Ipv4Addr, stop: Arc<AtomicBool>) -> SocketAddr {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(q) = Message::decode(&buf[..n]) else {
                continue;
            };
            let mut m = reply_to(&q);
            if let Some(edns) = &mut m.edns {
                edns.options.clear();
            }
            m.answers.push(Record {
                name: q.questions[0].name.clone(),
                ttl: 60,
                data: RData::A(ip),
            });
            let _ = sock.send_to(&m.encode(), from);
        }
    });
    addr
}
