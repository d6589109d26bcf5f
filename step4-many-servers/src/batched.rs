//! A connection whose writes wait in a buffer until they are flushed, and
//! whose buffer is given back as soon as it is empty.
//!
//! When the chat is busy, a page is sent many small messages at once (a
//! crowd joining, a burst of lines). One write to the system for each
//! costs more than the message itself, so `sending` gives tungstenite a
//! batch and then flushes, and the batch leaves in one write. tungstenite
//! could gather it itself, but its buffer keeps the size it grew to for as
//! long as the connection lives: with thousands of pages open, that memory
//! would stay taken on every one of them. This buffer exists only while
//! there is something in it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes that wait; a write beyond it first sends what waits.
const MOST_WAITING: usize = 8 * 1024;

/// `IO`, with its writes gathered until a flush.
pub struct Batched<IO> {
    io: IO,
    waiting: Vec<u8>,
}

impl<IO> Batched<IO> {
    pub fn new(io: IO) -> Batched<IO> {
        Batched {
            io,
            waiting: Vec::new(),
        }
    }
}

impl<IO: AsyncWrite + Unpin> Batched<IO> {
    /// Writes what waits to `io`, and lets go of the buffer once all of it
    /// has gone.
    fn poll_send_waiting(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.waiting.is_empty() {
            let written = ready!(Pin::new(&mut self.io).poll_write(context, &self.waiting))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.waiting.drain(..written);
        }
        self.waiting = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Batched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.waiting.len() + bytes.len() > MOST_WAITING {
            ready!(this.poll_send_waiting(context))?;
        }
        this.waiting.extend_from_slice(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_waiting(context))?;
        Pin::new(&mut this.io).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_waiting(context))?;
        Pin::new(&mut this.io).poll_shutdown(context)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Batched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(context, buffer)
    }
}
