//! Mutations of valid packets, for fuzzing the decoder: bit flips, byte
//! sets, truncation, extension, count changes, compression pointers
//! injected anywhere, duplicated slices.

use super::Rng;

/// Applies one to four random mutations.
pub fn mutate(rng: &mut Rng, packet: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = packet.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                packet[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                let random = rng.u8();
                packet[at] = *rng.pick(&[0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xff, random]);
            }
            2 => packet.truncate(rng.below(len + 1)),
            3 => {
                let extra = rng.below(64);
                packet.extend(rng.bytes(extra));
            }
            4 if len >= 12 => {
                // A count field: 0, small, huge, or random.
                let at = 4 + 2 * rng.below(4);
                let random = rng.u16();
                let value = *rng.pick(&[0u16, 1, 2, 0xff, 0xffff, random]);
                packet[at..at + 2].copy_from_slice(&value.to_be_bytes());
            }
            5 if len >= 2 => {
                // A compression pointer anywhere, to anywhere: backwards,
                // to itself, forwards, past the end.
                let at = rng.below(len - 1);
                let target = match rng.below(4) {
                    0 => at,
                    1 => at + 1 + rng.below(8),
                    2 => rng.below(at + 1),
                    _ => rng.below(0x4000),
                } as u16;
                packet[at] = 0xc0 | (target >> 8) as u8 & 0x3f;
                packet[at + 1] = target as u8;
            }
            6 if len > 1 => {
                // Duplicate a slice (repeats records, labels, pointers).
                let from = rng.below(len);
                let to = (from + 1 + rng.below(32)).min(len);
                let chunk = packet[from..to].to_vec();
                let at = rng.below(packet.len() + 1);
                packet.splice(at..at, chunk);
            }
            _ => {
                let at = rng.below(len + 1);
                packet.insert(at, rng.u8());
            }
        }
    }
}
