//! DNS cookies (RFC 7873): the COOKIE option (EDNS option code 10) that a
//! client puts in its queries and a server echoes in its replies.
//!
//! The option holds an 8-byte client cookie, then, once the server has
//! given one, the server cookie (8 to 32 bytes). [`Cookie`] is what a
//! client keeps for one server; [`Cookie::option`] encodes it on the
//! stack, so a query costs no allocation for it; [`find_cookie`] reads
//! the option out of a reply's undecoded [`Edns::options`](super::Edns).

/// The EDNS option code of COOKIE.
pub const COOKIE: u16 = 10;
/// Length of a client cookie.
pub const CLIENT_COOKIE_LEN: usize = 8;
/// Shortest server cookie (RFC 7873 §4).
pub const MIN_SERVER_COOKIE_LEN: usize = 8;
/// Longest server cookie (RFC 7873 §4).
pub const MAX_SERVER_COOKIE_LEN: usize = 32;
/// Longest encoded COOKIE option: code, length, client and server cookie.
const MAX_OPTION_LEN: usize = 4 + CLIENT_COOKIE_LEN + MAX_SERVER_COOKIE_LEN;

/// A client's cookies for one server: its own client cookie, and the
/// server cookie that server last gave it, if any.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cookie {
    client: [u8; CLIENT_COOKIE_LEN],
    server: [u8; MAX_SERVER_COOKIE_LEN],
    server_len: u8,
}

impl Cookie {
    /// A client cookie with no server cookie yet.
    pub fn new(client: [u8; CLIENT_COOKIE_LEN]) -> Cookie {
        Cookie {
            client,
            server: [0; MAX_SERVER_COOKIE_LEN],
            server_len: 0,
        }
    }

    /// The client cookie.
    pub fn client(&self) -> &[u8; CLIENT_COOKIE_LEN] {
        &self.client
    }

    /// The server cookie, empty if none is known.
    pub fn server(&self) -> &[u8] {
        self.server
            .get(..usize::from(self.server_len))
            .unwrap_or_default()
    }

    /// Keeps `server` as the server cookie; false (and nothing kept) if its
    /// length is not 8 to 32 bytes.
    pub fn set_server(&mut self, server: &[u8]) -> bool {
        let Some(slot) = self.server.get_mut(..server.len()) else {
            return false;
        };
        if server.len() < MIN_SERVER_COOKIE_LEN {
            return false;
        }
        slot.copy_from_slice(server);
        // At most 32, checked by the `get_mut` above.
        self.server_len = server.len() as u8;
        true
    }

    /// The COOKIE option for a query: code, length, client cookie, then
    /// the server cookie if one is known.
    pub fn option(&self) -> CookieOption {
        let server = self.server();
        let data_len = CLIENT_COOKIE_LEN + server.len();
        let mut bytes = [0u8; MAX_OPTION_LEN];
        let (head, rest) = bytes.split_at_mut(4);
        head[..2].copy_from_slice(&COOKIE.to_be_bytes());
        // At most 40.
        head[2..].copy_from_slice(&(data_len as u16).to_be_bytes());
        let (client, rest) = rest.split_at_mut(CLIENT_COOKIE_LEN);
        client.copy_from_slice(&self.client);
        rest[..server.len()].copy_from_slice(server);
        CookieOption {
            bytes,
            len: 4 + data_len,
        }
    }
}

impl std::fmt::Debug for Cookie {
    /// Lengths only: cookies are secrets of a sort.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookie")
            .field("server_len", &self.server_len)
            .finish_non_exhaustive()
    }
}

/// An encoded COOKIE option, on the stack (see [`Cookie::option`]).
#[derive(Clone, Copy, Debug)]
pub struct CookieOption {
    bytes: [u8; MAX_OPTION_LEN],
    len: usize,
}

impl CookieOption {
    /// The option as it goes on the wire, for
    /// [`Message::encode_with_option`](super::Message::encode_with_option).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// The COOKIE option found in a reply's EDNS options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyCookie<'a> {
    /// No COOKIE option (the server does not do cookies).
    Absent,
    /// A well-formed option: 8 bytes of client cookie, then nothing (the
    /// server echoed our option without adding one) or a server cookie of
    /// 8 to 32 bytes.
    Present {
        /// The client cookie the reply echoes.
        client: [u8; CLIENT_COOKIE_LEN],
        /// The server cookie, possibly empty.
        server: &'a [u8],
    },
    /// A COOKIE option of a length RFC 7873 does not allow (not 8, and
    /// not 16 to 40).
    Malformed {
        /// The option's length.
        len: usize,
    },
}

/// The first COOKIE option in `options` (EDNS options, undecoded: code,
/// length, data, ...). An option list cut short ends the walk as if the
/// rest held no COOKIE: a forger who can do that could as well leave the
/// option out, which a server without cookies does too.
pub fn find_cookie(options: &[u8]) -> ReplyCookie<'_> {
    let mut rest = options;
    while let Some((&[c0, c1, l0, l1], tail)) = rest.split_first_chunk::<4>() {
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let Some((data, tail)) = tail.split_at_checked(len) else {
            return ReplyCookie::Absent;
        };
        if u16::from_be_bytes([c0, c1]) == COOKIE {
            return parse_cookie(data);
        }
        rest = tail;
    }
    ReplyCookie::Absent
}

fn parse_cookie(data: &[u8]) -> ReplyCookie<'_> {
    let well_formed = data.len() == CLIENT_COOKIE_LEN
        || (CLIENT_COOKIE_LEN + MIN_SERVER_COOKIE_LEN..=CLIENT_COOKIE_LEN + MAX_SERVER_COOKIE_LEN)
            .contains(&data.len());
    match data.split_first_chunk::<CLIENT_COOKIE_LEN>() {
        Some((client, server)) if well_formed => ReplyCookie::Present {
            client: *client,
            server,
        },
        _ => ReplyCookie::Malformed { len: data.len() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_carries_client_then_server_cookie() {
        let mut c = Cookie::new([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(c.option().as_bytes(), [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(c.set_server(&[9; 16]));
        let option = c.option();
        assert_eq!(option.as_bytes().len(), 4 + 24);
        assert_eq!(option.as_bytes()[..4], [0, 10, 0, 24]);
        assert_eq!(option.as_bytes()[12..], [9; 16]);
        assert_eq!(
            find_cookie(option.as_bytes()),
            ReplyCookie::Present {
                client: [1, 2, 3, 4, 5, 6, 7, 8],
                server: &[9; 16],
            }
        );
        // Lengths outside 8..=32 are not kept.
        assert!(!c.set_server(&[1; 7]));
        assert!(!c.set_server(&[1; 33]));
        assert_eq!(c.server(), [9; 16]);
        assert!(c.set_server(&[2; 32]));
        assert_eq!(c.option().as_bytes().len(), 44);
    }

    #[test]
    fn reply_options_are_walked_and_lengths_checked() {
        let opt = |code: u16, data: &[u8]| {
            let mut v = code.to_be_bytes().to_vec();
            v.extend_from_slice(&(data.len() as u16).to_be_bytes());
            v.extend_from_slice(data);
            v
        };
        assert_eq!(find_cookie(&[]), ReplyCookie::Absent);
        // Another option first (an NSID, code 3), then the cookie.
        let mut two = opt(3, b"ns1");
        two.extend(opt(COOKIE, &[7; 16]));
        assert!(matches!(
            find_cookie(&two),
            ReplyCookie::Present { client, server } if client == [7; 8] && server == [7; 8]
        ));
        for len in [0, 1, 7, 9, 15, 41, 100] {
            assert_eq!(
                find_cookie(&opt(COOKIE, &vec![1; len])),
                ReplyCookie::Malformed { len },
                "length {len}"
            );
        }
        for len in [8, 16, 40] {
            assert!(matches!(
                find_cookie(&opt(COOKIE, &vec![1; len])),
                ReplyCookie::Present { .. }
            ));
        }
        // A list cut short: no cookie found, no panic.
        let mut cut = opt(COOKIE, &[1; 16]);
        cut.truncate(10);
        assert_eq!(find_cookie(&cut), ReplyCookie::Absent);
        assert_eq!(find_cookie(&[0, 10, 0]), ReplyCookie::Absent);
    }
}
