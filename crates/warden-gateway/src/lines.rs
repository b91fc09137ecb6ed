//! Newline-delimited messages with a size bound that survives an oversized line.
//!
//! `FramedRead` ends its stream after any decoding error, so one oversized message would end a
//! whole stdio session. This reader reports the oversized line, discards it up to its newline
//! (never buffering it whole) and carries on. [`write_lines`] is the other direction.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, LinesCodec, LinesCodecError};

/// One item read.
#[derive(Debug)]
pub enum Line {
    /// A complete line (without its newline).
    Message(String),
    /// A line longer than the bound was skipped.
    TooLong,
}

/// Reads bounded lines from `R`.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    codec: LinesCodec,
    buf: BytesMut,
    eof: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader accepting lines of at most `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            codec: LinesCodec::new_with_max_length(max),
            buf: BytesMut::with_capacity(64 * 1024),
            eof: false,
        }
    }

    /// The next line; `Ok(None)` at the end of input.
    pub async fn next(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let decoded = if self.eof {
                self.codec.decode_eof(&mut self.buf)
            } else {
                self.codec.decode(&mut self.buf)
            };
            match decoded {
                Ok(Some(line)) => return Ok(Some(Line::Message(line))),
                Ok(None) if self.eof => return Ok(None),
                Ok(None) => {}
                Err(LinesCodecError::MaxLineLengthExceeded) => return Ok(Some(Line::TooLong)),
                Err(LinesCodecError::Io(e)) => return Err(e),
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                self.eof = true;
            }
        }
    }
}

/// Writes each message of `queue` to `out` as one line, until the queue closes or a write
/// fails; then `out` is dropped (for a child's stdin, that closes it). Messages already queued
/// are written together and flushed once, so a burst costs one write, not one per message; a
/// lone message is still flushed at once (latency before throughput).
pub async fn write_lines<W: AsyncWrite + Unpin>(out: W, mut queue: mpsc::Receiver<String>) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    while let Some(msg) = queue.recv().await {
        let mut next = Some(msg);
        while let Some(msg) = next {
            if out.write_all(msg.as_bytes()).await.is_err() || out.write_all(b"\n").await.is_err() {
                return;
            }
            next = queue.try_recv().ok();
        }
        if out.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_oversized_line_is_skipped_and_reading_goes_on() {
        let input = format!("short\n{}\nafter\nlast", "x".repeat(100));
        let mut r = LineReader::new(input.as_bytes(), 10);
        let mut got = Vec::new();
        while let Some(l) = r.next().await.unwrap() {
            got.push(match l {
                Line::Message(m) => m,
                Line::TooLong => "<too long>".into(),
            });
        }
        assert_eq!(got, ["short", "<too long>", "after", "last"]);
    }

    #[tokio::test]
    async fn queued_lines_are_written_in_order() {
        let (tx, rx) = mpsc::channel(8);
        for m in ["a", "bc", "d"] {
            tx.send(m.to_owned()).await.unwrap();
        }
        drop(tx);
        let mut out = Vec::new();
        write_lines(&mut out, rx).await;
        assert_eq!(out, b"a\nbc\nd\n");
    }
}
