//! TCP echo load: a data pattern every byte of which can be checked and
//! an echo loop. Used by the reliability test and by the `stress` binary
//! of tern-benches, at their own sizes.

use tern::net::TcpStream;

/// Byte `i` of the data stream of connection `conn`.
pub fn pattern(conn: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ conn.wrapping_mul(131) ^ (i >> 8)) as u8
}

/// Echoes in reads of up to `chunk` bytes until EOF or an error; returns
/// the bytes echoed.
pub async fn echo(s: &TcpStream, chunk: usize) -> std::io::Result<usize> {
    let mut buf = vec![0u8; chunk];
    let mut total = 0;
    loop {
        match s.read(&mut buf).await? {
            0 => return Ok(total),
            n => {
                s.write_all(&buf[..n]).await?;
                total += n;
            }
        }
    }
}
