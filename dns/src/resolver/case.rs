//! 0x20 case randomisation (draft-vixie-dnsext-dns0x20, opt-in with
//! [`Config::case_randomization`](crate::Config::case_randomization)): the
//! letters of each query name get a random case, and a reply must echo the
//! question in exactly that case. A forger then has to guess one more bit
//! per letter besides the ID and the port.
//!
//! A reply that matches in all but case is one the transport has already
//! taken, so it is not dropped but fails the attempt: a forgery costs the
//! lookup one attempt, never a poisoned answer. Servers that do not keep
//! the case of the question (rare, and wrong by RFC 1035) fail every
//! attempt, which is why this is opt-in.

use crate::error::{malformed, Error};
use crate::name::Name;
use crate::wire::{Message, Problem};

/// `name` with the case of each ASCII letter chosen at random.
pub(crate) fn randomize(name: &Name) -> Result<Name, Error> {
    let mut bits = [0u8; 32];
    tern_runtime::sys::random::fill(&mut bits)?;
    let mut n = 0usize;
    let mut flip = move |b: u8| {
        let bit = bits.get(n / 8).is_some_and(|byte| byte >> (n % 8) & 1 == 1);
        n += 1;
        match (b.is_ascii_alphabetic(), bit) {
            (true, true) => b.to_ascii_uppercase(),
            (true, false) => b.to_ascii_lowercase(),
            (false, _) => b,
        }
    };
    let labels: Vec<Vec<u8>> = name
        .labels()
        .map(|label| label.iter().map(|&b| flip(b)).collect())
        .collect();
    Name::from_labels(labels)
}

/// Checks that `reply` echoes `sent` byte for byte (a reply without a
/// question, an error reply the resolver only moves on from, passes).
pub(crate) fn check_echo(sent: &Name, reply: &Message) -> Result<(), Error> {
    match reply.questions.first() {
        Some(q) if q.name.as_wire() != sent.as_wire() => {
            Err(malformed("question name", 12, Problem::CaseMismatch))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordType;

    #[test]
    fn randomized_names_differ_only_in_case() {
        let name: Name = "www.example-123.com".parse().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let r = randomize(&name).unwrap();
            assert_eq!(r, name, "equal ignoring case");
            seen.insert(r.as_wire().to_vec());
        }
        assert!(seen.len() > 10, "cases are random: {}", seen.len());
        let sent = randomize(&name).unwrap();
        let mut reply = Message::query(1, &sent, RecordType::A, None);
        assert!(check_echo(&sent, &reply).is_ok());
        reply.questions[0].name = name.clone();
        if name.as_wire() != sent.as_wire() {
            assert!(check_echo(&sent, &reply).is_err());
        }
        reply.questions.clear();
        assert!(check_echo(&sent, &reply).is_ok());
    }
}
