//! Reading the answer out of a final reply: follow the CNAME chain, keep
//! only what was asked for, and work out how long a negative answer may be
//! cached.
//!
//! Everything in the reply that is not on the chain from the question's name
//! is ignored — records for other names, other types, stray SOAs — so a
//! server cannot plant data the user did not ask about (cache poisoning).

use crate::error::{malformed, Error};
use crate::name::Name;
use crate::record::{RData, Record, RecordType};
use crate::wire::Message;
use crate::wire::Problem;

use super::reply::rcode_error;

/// The longest CNAME chain followed within one reply.
pub const MAX_CNAME_CHAIN: usize = 16;
/// The most records taken from one answer; the rest are dropped, so one
/// huge reply cannot make a lookup return or the cache keep thousands.
pub const MAX_ANSWER_RECORDS: usize = 256;

/// QTYPE `*` (ANY, 255): it matches records of every type, CNAME
/// included (RFC 1035 §3.2.3, RFC 1034 §4.3.2).
const ANY: RecordType = RecordType::Other(255);

/// Whether `record` is of a type `qtype` asks for.
fn of_type(qtype: RecordType, record: &Record) -> bool {
    qtype == ANY || record.rtype() == qtype
}

/// The records of type `qtype` that answer `qname` in `reply`.
///
/// From `qname`, CNAME records in the answer section are followed (at most
/// [`MAX_CNAME_CHAIN`] links; a loop or a longer chain is
/// [`Error::Malformed`]) to the canonical name; the result is the records of
/// type `qtype` owned by that name, in answer order, at most
/// [`MAX_ANSWER_RECORDS`] of them. A TTL with the top bit set counts as 0
/// (RFC 2181 §8), and TTLs are lowered to the smallest TTL on the chain, so
/// a cache keeping them under `qname` forgets them when any link expires. For `qtype` CNAME the chain is not
/// followed: the result is the CNAME records owned by `qname`. Nor for
/// ANY (255), which every type matches, CNAME too (RFC 1034 §4.3.2): the
/// result is every record owned by `qname`.
///
/// Errors: the reply's rcode as an error (NXDOMAIN → [`Error::NxDomain`]),
/// or [`Error::NoData`] when the chain ends without records of the type.
/// A chain leading out of the reply is NoData too (a stub resolver sets RD
/// and expects the whole chain).
pub fn extract_answer(
    qname: &Name,
    qtype: RecordType,
    reply: &Message,
) -> Result<Vec<Record>, Error> {
    let (owner, chain_ttl) = answer_owner(qname, qtype, reply)?;
    let records: Vec<Record> = reply
        .answers
        .iter()
        .filter(|r| of_type(qtype, r) && r.name == *owner)
        .take(MAX_ANSWER_RECORDS)
        .map(|r| Record {
            ttl: clamp_ttl(r.ttl).min(chain_ttl),
            ..r.clone()
        })
        .collect();
    if records.is_empty() {
        return Err(Error::NoData);
    }
    Ok(records)
}

/// [`extract_answer`] for a reply that is no longer needed: the records
/// are moved out of its answer section, which is kept as the result, so
/// nothing is copied or allocated.
pub fn take_answer(qname: &Name, qtype: RecordType, reply: Message) -> Result<Vec<Record>, Error> {
    // The usual reply holds just the records asked for: they are the
    // answer, with no chain to follow or records to drop.
    let plain = |r: &Record| of_type(qtype, r) && r.name == *qname;
    if !reply.answers.is_empty()
        && reply.answers.iter().all(plain)
        && rcode_error(reply.rcode()).is_none()
    {
        let mut records = reply.answers;
        records.truncate(MAX_ANSWER_RECORDS);
        for r in &mut records {
            r.ttl = clamp_ttl(r.ttl);
        }
        return Ok(records);
    }
    let (owner, chain_ttl) = answer_owner(qname, qtype, &reply)?;
    let owner = owner.clone();
    let mut records = reply.answers;
    records.retain(|r| of_type(qtype, r) && r.name == owner);
    records.truncate(MAX_ANSWER_RECORDS);
    if records.is_empty() {
        return Err(Error::NoData);
    }
    for r in &mut records {
        r.ttl = clamp_ttl(r.ttl).min(chain_ttl);
    }
    Ok(records)
}

/// The rcode's error, or the name whose `qtype` records answer `qname` in
/// `reply` and the smallest TTL of the CNAMEs leading there.
fn answer_owner<'a>(
    qname: &'a Name,
    qtype: RecordType,
    reply: &'a Message,
) -> Result<(&'a Name, u32), Error> {
    if let Some(err) = rcode_error(reply.rcode()) {
        return Err(err);
    }
    if qtype == RecordType::CNAME {
        Ok((qname, u32::MAX))
    } else {
        follow_cnames(qname, qtype, &reply.answers)
    }
}

/// The name `qname` is an alias of according to the answer section of
/// `reply` (`qname` itself if it is not an alias): the name whose `qtype`
/// records answer the question.
pub fn canonical_name(qname: &Name, qtype: RecordType, reply: &Message) -> Result<Name, Error> {
    follow_cnames(qname, qtype, &reply.answers).map(|(name, _)| name.clone())
}

/// How long a negative answer (NXDOMAIN or NODATA) in `reply` may be cached,
/// per RFC 2308 §5: the smaller of the SOA record's TTL and its MINIMUM
/// field, and no longer than any CNAME on the chain from `qname`.
///
/// Only an SOA in the authority section whose owner is the final name of
/// the chain or one of its ancestors counts; without one the answer must not
/// be cached and this returns `None`.
pub fn negative_ttl(qname: &Name, reply: &Message) -> Option<u32> {
    // The type only decides where a chain stops; CNAME-free types stop at
    // the end of the chain, which is what a negative answer is about.
    if !reply
        .authorities
        .iter()
        .any(|r| matches!(r.data, RData::SOA { .. }))
    {
        return None;
    }
    let (owner, chain_ttl) = follow_cnames(qname, RecordType::Other(0), &reply.answers).ok()?;
    reply.authorities.iter().find_map(|r| match &r.data {
        RData::SOA { minimum, .. } if owner.is_subdomain_of(&r.name) => {
            Some(clamp_ttl(r.ttl).min(*minimum).min(chain_ttl))
        }
        _ => None,
    })
}

/// RFC 2181 §8: a TTL above 2³¹ − 1 is to be read as 0.
fn clamp_ttl(ttl: u32) -> u32 {
    if ttl > i32::MAX as u32 {
        0
    } else {
        ttl
    }
}

/// Follows CNAMEs from `qname` through `answers` until a name that has
/// `qtype` records or no CNAME; returns that name and the smallest TTL of
/// the CNAMEs followed (`u32::MAX` if none).
fn follow_cnames<'a>(
    qname: &'a Name,
    qtype: RecordType,
    answers: &'a [Record],
) -> Result<(&'a Name, u32), Error> {
    let mut current = qname;
    // The names seen on the chain after `qname`: empty (no allocation)
    // unless there is a CNAME to follow.
    let mut visited: Vec<&Name> = Vec::new();
    let mut ttl = u32::MAX;
    loop {
        if answers
            .iter()
            .any(|r| of_type(qtype, r) && r.name == *current)
        {
            break;
        }
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == *current => Some((target, r.ttl)),
            _ => None,
        });
        let Some((target, link_ttl)) = next else {
            break;
        };
        if target == qname || visited.contains(&target) {
            return Err(malformed("CNAME chain", 0, Problem::CnameLoop));
        }
        if visited.len() >= MAX_CNAME_CHAIN {
            return Err(malformed("CNAME chain", 0, Problem::CnameChainTooLong));
        }
        visited.push(target);
        ttl = ttl.min(clamp_ttl(link_ttl));
        current = target;
    }
    Ok((current, ttl))
}
