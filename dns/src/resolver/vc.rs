//! One query to one server over TCP only (`options use-vc`).
//!
//! The same rules as the UDP path in `transport.rs` ([`classify`] decides),
//! minus truncation: a TCP reply is never retried elsewhere for size.

use std::net::SocketAddr;

use super::transport::{next_id, tcp_exchange, Limit};
use crate::error::Error;
use crate::exchange::{classify, Step, Transport};
use crate::name::Name;
use crate::record::RecordType;
use crate::wire::Message;

/// Asks `server` about `name`/`rtype` over TCP within `limit` per exchange;
/// the reply once it is final for this server, or the error that sends the
/// resolver to the next one.
pub(crate) async fn ask_tcp(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    mut edns: Option<u16>,
    limit: Limit,
) -> Result<Message, Error> {
    loop {
        let query = Message::query(next_id()?, name, rtype, edns);
        let reply = tcp_exchange(server, &query, limit).await?;
        match classify(&query, &reply, Transport::Tcp) {
            Step::Done => return Ok(reply),
            Step::RetryWithoutEdns if edns.is_some() => edns = None,
            Step::NextServer(err) => return Err(err),
            _ => {
                return Err(Error::FallbackFailed {
                    server,
                    transport: Transport::Tcp,
                })
            }
        }
    }
}
