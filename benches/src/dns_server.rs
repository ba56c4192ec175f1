//! A minimal, fast authoritative DNS server for the DNS benchmarks: one std
//! thread with a blocking `UdpSocket` on 127.0.0.1, answering every A query
//! with [`ANSWER`] (TTL 60) and anything else with an empty NOERROR, echoing
//! the ID and the question. It stops when dropped.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The address every A query gets.
pub const ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// A running server.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    tid: Arc<AtomicI32>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds 127.0.0.1 on a free port and starts answering.
    pub fn start() -> io::Result<DnsServer> {
        DnsServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Binds `addr` and starts answering.
    pub fn start_on(addr: SocketAddr) -> io::Result<DnsServer> {
        let sock = UdpSocket::bind(addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let tid = Arc::new(AtomicI32::new(0));
        let (st, an, ti) = (stop.clone(), answered.clone(), tid.clone());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bench-dns-server".into())
            .spawn(move || {
                // SAFETY: gettid(2) has no preconditions.
                ti.store(unsafe { libc::gettid() }, Ordering::Release);
                let _ = started_tx.send(());
                serve(&sock, &st, &an)
            })?;
        let _ = started_rx.recv();
        Ok(DnsServer {
            addr,
            stop,
            answered,
            tid,
            thread: Some(thread),
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server thread's kernel thread id, so that its CPU time can be
    /// told apart from the clients' (see `dns::Cpu`).
    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Acquire)
    }

    /// Queries answered so far.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Acquire)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(sock: &UdpSocket, stop: &AtomicBool, answered: &AtomicU64) {
    let mut query = [0u8; 1500];
    let mut reply = Vec::with_capacity(512);
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut query) {
            Ok(x) => x,
            Err(_) => continue, // timeout: check `stop`
        };
        if answer(&query[..n], &mut reply) {
            // Counted before sending, so a client that has the reply also
            // sees the count.
            answered.fetch_add(1, Ordering::Release);
            let _ = sock.send_to(&reply, from);
        }
    }
}

/// Builds the reply to `query` into `out`; false for anything that is not
/// a well-formed single-question query.
pub fn answer(query: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let Some(header) = query.get(..12) else {
        return false;
    };
    let qr = header[2] & 0x80 != 0;
    let qdcount = u16::from_be_bytes([header[4], header[5]]);
    if qr || qdcount != 1 {
        return false;
    }
    // Walk the question name (uncompressed labels only).
    let mut at = 12;
    loop {
        let Some(&len) = query.get(at) else {
            return false;
        };
        if len == 0 {
            at += 1;
            break;
        }
        if len & 0xc0 != 0 || at - 12 > 255 {
            return false;
        }
        at += 1 + len as usize;
    }
    let Some(tail) = query.get(at..at + 4) else {
        return false;
    };
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    let is_a = qtype == 1 && tail[2..4] == [0, 1];
    let question = &query[12..at + 4];
    out.extend_from_slice(&header[..2]); // ID
    out.push(0x84 | (header[2] & 0x01)); // QR, AA, RD copied
    out.push(0x80); // RA, NOERROR
    out.extend_from_slice(&[0, 1, 0, is_a as u8, 0, 0, 0, 0]);
    out.extend_from_slice(question);
    if is_a {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        out.extend_from_slice(&ANSWER.octets());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qtype: u16) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["host1", "bench", "test"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    #[test]
    fn answers_a_and_echoes_question() {
        let q = query(1);
        let mut r = Vec::new();
        assert!(answer(&q, &mut r));
        assert_eq!(&r[..2], &[0xab, 0xcd]);
        assert_eq!(r[2] & 0x80, 0x80);
        assert_eq!(&r[6..8], &[0, 1]);
        assert_eq!(&r[12..q.len()], &q[12..]);
        assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 1]);
    }

    #[test]
    fn aaaa_gets_no_data_and_junk_is_ignored() {
        let mut r = Vec::new();
        assert!(answer(&query(28), &mut r));
        assert_eq!(&r[6..8], &[0, 0]);
        assert!(!answer(&[1, 2, 3], &mut r));
        let mut q = query(1);
        q.truncate(20);
        assert!(!answer(&q, &mut r));
    }

    #[test]
    fn serves_over_udp() {
        let server = DnsServer::start().unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.send_to(&query(1), server.addr()).unwrap();
        let mut buf = [0u8; 512];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[n - 4..n], &[192, 0, 2, 1]);
        assert_eq!(server.answered(), 1);
    }
}
