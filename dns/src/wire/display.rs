//! `Display` for [`Message`]: the layout dig prints, so tools built on
//! tern (such as a `dig` example) can show replies the familiar way.

use std::fmt;

use super::{Message, CLASS_IN};
use crate::record::Record;

impl fmt::Display for Message {
    /// Header, flags, EDNS, then each non-empty section, as dig shows them
    /// (dig counts the OPT record in ADDITIONAL, and so does this).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        let opcode = match h.opcode {
            0 => "QUERY".to_string(),
            1 => "IQUERY".to_string(),
            2 => "STATUS".to_string(),
            4 => "NOTIFY".to_string(),
            5 => "UPDATE".to_string(),
            n => format!("OPCODE{n}"),
        };
        writeln!(
            f,
            ";; ->>HEADER<<- opcode: {opcode}, status: {}, id: {}",
            self.rcode(),
            h.id
        )?;
        let flags: Vec<&str> = [
            (h.qr, "qr"),
            (h.aa, "aa"),
            (h.tc, "tc"),
            (h.rd, "rd"),
            (h.ra, "ra"),
            (h.ad, "ad"),
            (h.cd, "cd"),
        ]
        .iter()
        .filter_map(|&(on, name)| on.then_some(name))
        .collect();
        writeln!(
            f,
            ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
            flags.join(" "),
            self.questions.len(),
            self.answers.len(),
            self.authorities.len(),
            self.additionals.len() + usize::from(self.edns.is_some()),
        )?;
        if let Some(edns) = &self.edns {
            let flags = if edns.dnssec_ok { " do" } else { "" };
            writeln!(f, "\n;; OPT PSEUDOSECTION:")?;
            writeln!(
                f,
                "; EDNS: version: {}, flags:{flags}; udp: {}",
                edns.version, edns.payload
            )?;
        }
        if !self.questions.is_empty() {
            writeln!(f, "\n;; QUESTION SECTION:")?;
            for q in &self.questions {
                let class = match q.qclass {
                    CLASS_IN => "IN".to_string(),
                    3 => "CH".to_string(),
                    255 => "ANY".to_string(),
                    n => format!("CLASS{n}"),
                };
                writeln!(f, ";{}\t\t{class}\t{}", q.name, q.qtype)?;
            }
        }
        section(f, "ANSWER", &self.answers)?;
        section(f, "AUTHORITY", &self.authorities)?;
        section(f, "ADDITIONAL", &self.additionals)
    }
}

fn section(f: &mut fmt::Formatter<'_>, title: &str, records: &[Record]) -> fmt::Result {
    if records.is_empty() {
        return Ok(());
    }
    writeln!(f, "\n;; {title} SECTION:")?;
    for r in records {
        writeln!(f, "{}\t{}\tIN\t{}\t{}", r.name, r.ttl, r.rtype(), r.data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::record::{RData, Record, RecordType};
    use crate::wire::{Message, Rcode};

    #[test]
    fn looks_like_dig() {
        let name = "host.tern.test".parse().unwrap();
        let mut m = Message::query(0x7e57, &name, RecordType::A, Some(1232));
        m.header.qr = true;
        m.header.aa = true;
        m.header.ra = true;
        m.header.rcode = Rcode::NOERROR;
        m.answers.push(Record {
            name,
            ttl: 300,
            data: RData::A([192, 0, 2, 10].into()),
        });
        let text = m.to_string();
        assert_eq!(
            text,
            ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 32343\n\
             ;; flags: qr aa rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n\
             \n\
             ;; OPT PSEUDOSECTION:\n\
             ; EDNS: version: 0, flags:; udp: 1232\n\
             \n\
             ;; QUESTION SECTION:\n\
             ;host.tern.test.\t\tIN\tA\n\
             \n\
             ;; ANSWER SECTION:\n\
             host.tern.test.\t300\tIN\tA\t192.0.2.10\n"
        );
    }
}
