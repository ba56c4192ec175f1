//! The rot13 server's line handling, apart from any runtime: the example
//! (`examples/rot13.rs`) and the benchmark's tokio copy of its server
//! (`benches/src/rot13_mt.rs`) include this file by `#[path]`, so both run
//! the same algorithm.

/// The longest line held in memory; longer lines are passed on in pieces.
pub const MAX_LINE: usize = 16 * 1024;

/// Applies rot13 to the ASCII letters of `bytes`.
pub fn rot13(bytes: &mut [u8]) {
    for b in bytes {
        *b = match *b {
            b'a'..=b'm' | b'A'..=b'M' => *b + 13,
            b'n'..=b'z' | b'N'..=b'Z' => *b - 13,
            other => other,
        };
    }
}

/// Bytes read from a client and not yet sent back.
pub struct Lines {
    buf: Vec<u8>,
    filled: usize,
    /// Bytes at the front handed out by [`Lines::read`], to drop at
    /// [`Lines::sent`].
    out: usize,
}

impl Lines {
    /// An empty buffer of [`MAX_LINE`] bytes.
    pub fn new() -> Lines {
        Lines {
            buf: vec![0u8; MAX_LINE],
            filled: 0,
            out: 0,
        }
    }

    /// Where the next read goes.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// After a read of `n` bytes (0: the end of input), what to send back,
    /// encoded: every complete line in the buffer; a full buffer without a
    /// newline as it is (the line goes on in the next piece); at the end
    /// whatever is left. `None`: nothing yet. Call [`Lines::sent`] once it
    /// is written.
    pub fn read(&mut self, n: usize) -> Option<&[u8]> {
        let start = self.filled;
        self.filled += n;
        let done = if n == 0 {
            self.filled
        } else {
            match self.buf[start..self.filled]
                .iter()
                .rposition(|&b| b == b'\n')
            {
                Some(i) => start + i + 1,
                None if self.filled == self.buf.len() => self.filled,
                None => return None,
            }
        };
        rot13(&mut self.buf[..done]);
        self.out = done;
        Some(&self.buf[..done])
    }

    /// Drops what [`Lines::read`] handed out; the unfinished rest moves to
    /// the front.
    pub fn sent(&mut self) {
        self.buf.copy_within(self.out..self.filled, 0);
        self.filled -= self.out;
        self.out = 0;
    }
}

/// The serve loop, for any stream whose `read` and `write_all` methods
/// are async (tern's `TcpStream`, tokio's with its traits in scope):
/// returns from the enclosing function at the end of input.
macro_rules! serve_lines {
    ($stream:expr) => {{
        let mut lines = lines::Lines::new();
        loop {
            let n = $stream.read(lines.space()).await?;
            if let Some(out) = lines.read(n) {
                $stream.write_all(out).await?;
                lines.sent();
            }
            if n == 0 {
                // End of input: a last line without a newline was sent too.
                return Ok(());
            }
        }
    }};
}
