//! The lossy DNS server's decisions: 10% of queries dropped, 5% answered
//! by forged replies first (wrong ID, wrong question, a forged SERVFAIL,
//! junk) and then the real one, 5% SERVFAIL, the rest answered.
//!
//! The zone holds hosts `h<i>.…`, each with two A records. The server
//! decides per query (a retry meets fresh luck) and the caller logs each
//! decision, so the outcome every lookup must have is known. Used by the
//! reliability test (on the scripted server) and by the `stress` binary
//! (on a server thread), at their own sizes.

use std::net::Ipv4Addr;

use tern::dns::wire::{Message, Rcode};
use tern::dns::{Name, RData, Record};

use super::reply::{rcode_reply, reply_to};
use super::Rng;

/// What the lossy server did with one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Dropped,
    ForgedFirst,
    ServFail,
    Answered,
}

/// One datagram the server sends, in order.
#[derive(Clone, Debug)]
pub enum Datagram {
    /// A message, to encode.
    Message(Message),
    /// Bytes as they are.
    Raw(Vec<u8>),
}

/// The addresses of host number `i` in the lossy zone.
pub fn host_ips(i: usize) -> [Ipv4Addr; 2] {
    [
        Ipv4Addr::new(192, 0, 2, (i % 256) as u8),
        Ipv4Addr::new(198, 51, 100, ((i / 256) % 256) as u8),
    ]
}

/// The host number of `h<i>.…`, or None for a name outside the zone.
pub fn host_index(name: &Name) -> Option<usize> {
    let text = name.to_string();
    text.strip_prefix('h')?.split('.').next()?.parse().ok()
}

fn record(owner: &Name, ttl: u32, ip: Ipv4Addr) -> Record {
    Record {
        name: owner.clone(),
        ttl,
        data: RData::A(ip),
    }
}

/// Decides what to do with `q`, a query for host `i` (its first
/// question), and returns the decision with the datagrams to send.
pub fn decide(rng: &mut Rng, q: &Message, i: usize) -> (Fate, Vec<Datagram>) {
    let owner = &q.questions[0].name;
    let mut real = reply_to(q);
    for ip in host_ips(i) {
        real.answers.push(record(owner, 60, ip));
    }
    match rng.below(100) {
        0..10 => (Fate::Dropped, vec![]),
        10..15 => {
            let mut wrong_id = real.clone();
            wrong_id.header.id ^= 0x0101;
            wrong_id.answers = vec![record(owner, 300, Ipv4Addr::new(203, 0, 113, 66))];
            let mut wrong_name = wrong_id.clone();
            wrong_name.header.id = q.header.id;
            wrong_name.questions[0].name = "h0.elsewhere.test."
                .parse()
                .unwrap_or_else(|_| Name::root());
            let mut servfail_forged = rcode_reply(q, Rcode::SERVFAIL);
            servfail_forged.header.id ^= 0x8000;
            (
                Fate::ForgedFirst,
                vec![
                    Datagram::Message(wrong_id),
                    Datagram::Message(wrong_name),
                    Datagram::Message(servfail_forged),
                    Datagram::Raw(vec![0u8; 3]),
                    Datagram::Message(real),
                ],
            )
        }
        15..20 => (
            Fate::ServFail,
            vec![Datagram::Message(rcode_reply(q, Rcode::SERVFAIL))],
        ),
        _ => (Fate::Answered, vec![Datagram::Message(real)]),
    }
}
