//! Structured fuzzing of compressed names against a model.
//!
//! A message of 1 to 4 questions whose names are built from labels (some
//! 63 bytes, some 64 or more, which are reserved label types) and end at
//! the root, at a pointer back to a label of an earlier name, at a loop or
//! forward pointer, or at a pointer into the header; sometimes the framing
//! is damaged too. The model says what each name must expand to, or that
//! the message must fail to decode.

use super::Rng;

/// How a generated name ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Root,
    /// A pointer to a label boundary of an earlier name: (name, label index).
    Back(usize, usize),
    /// A pointer to this name's own start or a later offset (a loop or a
    /// forward pointer).
    Forward(usize),
    /// A pointer into the header: no model, only "no panic".
    Header(u16),
}

struct ModelName {
    labels: Vec<Vec<u8>>,
    end: End,
    /// Offsets of each label's length byte, then of the end (0 or pointer).
    offsets: Vec<usize>,
}

/// The expanded wire form of `names[j]` from label `from`, or None when
/// the model says it is invalid or unknown.
fn expand(names: &[ModelName], j: usize, from: usize) -> Option<Vec<u8>> {
    let n = &names[j];
    let mut wire = Vec::new();
    for l in n.labels.get(from..)? {
        if l.len() > 63 {
            return None;
        }
        wire.push(l.len() as u8);
        wire.extend_from_slice(l);
    }
    match n.end {
        End::Root => wire.push(0),
        End::Back(k, at) => wire.extend(expand(names, k, at)?),
        End::Forward(_) | End::Header(_) => return None,
    }
    Some(wire)
}

fn label(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(20) {
        0 => 63,
        1 => 64,
        2 => 64 + rng.below(128), // label types 0x40 and 0x80
        3..=5 => 30 + rng.below(34),
        _ => 1 + rng.below(8),
    };
    (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
}

/// One message of 1 to 4 questions built from the model, and whether (and
/// to what) it must decode: the packet, the wire forms of its question
/// names (`None`: it must fail as malformed), and whether the model knows
/// (false when a name points into the header; then only "no panic" holds).
pub fn message(rng: &mut Rng) -> (Vec<u8>, Option<Vec<Vec<u8>>>, bool) {
    let count = 1 + rng.below(4);
    let mut packet = vec![0x12, 0x34, 0x81, 0x80, 0, count as u8, 0, 0, 0, 0, 0, 0];
    let mut names: Vec<ModelName> = Vec::new();
    let mut known = true;
    for j in 0..count {
        let labels: Vec<Vec<u8>> = (0..rng.below(6)).map(|_| label(rng)).collect();
        let end = match rng.below(10) {
            0..=2 => End::Root,
            3..=6 if j > 0 => {
                let k = rng.below(j);
                End::Back(k, rng.below(names[k].labels.len() + 1))
            }
            7 => End::Forward(rng.below(300)),
            8 => End::Header(rng.below(12) as u16),
            _ => End::Root,
        };
        let start = packet.len();
        let mut offsets = Vec::new();
        for l in &labels {
            offsets.push(packet.len());
            packet.push(l.len() as u8);
            packet.extend_from_slice(l);
        }
        offsets.push(packet.len());
        match end {
            End::Root => packet.push(0),
            End::Back(k, at) => {
                let target = names[k].offsets[at] as u16;
                packet.extend_from_slice(&(0xc000 | target).to_be_bytes());
            }
            End::Forward(ahead) => {
                let target = (start + ahead).min(0x3fff) as u16;
                packet.extend_from_slice(&(0xc000 | target).to_be_bytes());
            }
            End::Header(at) => {
                known = false;
                packet.extend_from_slice(&(0xc000 | at).to_be_bytes());
            }
        }
        packet.extend_from_slice(&[0, 1, 0, 1]);
        names.push(ModelName {
            labels,
            end,
            offsets,
        });
    }
    let expanded: Option<Vec<Vec<u8>>> = (0..count)
        .map(|j| expand(&names, j, 0).filter(|w| w.len() <= 255))
        .collect();
    // Damage the framing sometimes: counts larger than the packet, a cut,
    // trailing bytes. Each makes the message invalid.
    let mut framing_ok = true;
    match rng.below(8) {
        0 => {
            let at = 4 + 2 * rng.below(4);
            let extra = if at == 4 { count as u16 + 1 } else { 1 } + rng.u16() % 0x8000;
            packet[at..at + 2].copy_from_slice(&extra.to_be_bytes());
            framing_ok = false;
        }
        1 => {
            packet.truncate(rng.below(packet.len()));
            framing_ok = false;
        }
        2 => {
            packet.push(rng.u8());
            framing_ok = false;
        }
        _ => {}
    }
    (packet, expanded.filter(|_| framing_ok), known)
}
