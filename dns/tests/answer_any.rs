//! An ANY (QTYPE 255) question is answered by every record the reply
//! holds for the name asked, and a CNAME there is the answer itself, not
//! a link to follow: QTYPE * matches CNAME, so the server does not restart
//! the query at the canonical name (RFC 1034 §3.7.1, §4.3.2 step 3a). A
//! record's type is never 255, so matching the asked type literally would
//! turn every ANY answer into NODATA.
//!
//! Crafted bytes through the functions the resolver uses
//! (`validate_reply`, then `take_answer` / `extract_answer`).

use tern_dns::exchange::{extract_answer, take_answer, validate_reply, Transport};
use tern_dns::wire::Message;
use tern_dns::{Error, Name, RData, Record, RecordType};

const ANY: RecordType = RecordType::Other(255);
const QNAME: &[u8] = b"\x03www\x07example\x00";

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

/// A NOERROR reply to the query `Message::query(0x2a2a, www.example, ANY)`
/// holding `answers` (owner wire form, type, data), each owner usually a
/// pointer to the question.
fn reply(answers: &[(&[u8], u16, &[u8])]) -> Vec<u8> {
    // ID 0x2a2a, QR RD RA, one question, the answers, nothing else.
    let mut p = vec![0x2a, 0x2a, 0x81, 0x80, 0, 1];
    p.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(QNAME);
    p.extend_from_slice(&[0, 255, 0, 1]);
    for (owner, rtype, data) in answers {
        p.extend_from_slice(owner);
        p.extend_from_slice(&rtype.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        p.extend_from_slice(&(data.len() as u16).to_be_bytes());
        p.extend_from_slice(data);
    }
    p
}

/// Both ways the resolver reads an answer, which must agree.
fn answer(bytes: &[u8]) -> Result<Vec<Record>, Error> {
    let query = Message::query(0x2a2a, &name("www.example"), ANY, None);
    let reply = validate_reply(&query, bytes, Transport::Udp).expect("the reply is ours");
    let borrowed = extract_answer(&name("www.example"), ANY, &reply);
    let taken = take_answer(&name("www.example"), ANY, reply);
    assert_eq!(format!("{borrowed:?}"), format!("{taken:?}"));
    borrowed
}

#[test]
fn any_returns_every_record_of_the_name() {
    let bytes = reply(&[
        (&[0xc0, 12], 1, &[192, 0, 2, 1]),
        (&[0xc0, 12], 16, b"\x05hello"),
        // Another name's record: not an answer.
        (b"\x05other\x00", 1, &[192, 0, 2, 9]),
    ]);
    let got = answer(&bytes).expect("ANY answered with records is not NODATA");
    let data: Vec<&RData> = got.iter().map(|r| &r.data).collect();
    assert_eq!(
        data,
        [
            &RData::A([192, 0, 2, 1].into()),
            &RData::TXT(vec![b"hello".to_vec()])
        ]
    );
    assert!(got.iter().all(|r| r.name == name("www.example")));
}

#[test]
fn any_at_an_alias_is_answered_by_the_cname() {
    // The alias's CNAME, and records of its target (which a server may add):
    // the answer is what the name asked owns, the CNAME alone.
    let bytes = reply(&[
        (&[0xc0, 12], 5, b"\x03web\xc0\x10"),
        (b"\x03web\xc0\x10", 1, &[192, 0, 2, 7]),
    ]);
    let got = answer(&bytes).expect("the CNAME answers ANY");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, RData::CNAME(name("web.example")));
}

#[test]
fn any_without_records_is_nodata() {
    assert!(matches!(answer(&reply(&[])), Err(Error::NoData)));
}
