//! Counting the bytes on a socket: what really crossed each connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from and written to one socket so far.
#[derive(Default, Debug)]
pub struct Counts {
    pub read: AtomicU64,
    pub written: AtomicU64,
}

impl Counts {
    /// (read, written).
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.read.load(Ordering::SeqCst),
            self.written.load(Ordering::SeqCst),
        )
    }

    pub fn total(&self) -> u64 {
        let (read, written) = self.snapshot();
        read + written
    }
}

/// A socket that counts what passes through it. It adds the number of
/// bytes each read really filled and each write really accepted, which
/// can be fewer than asked for: that is what reached the connection.
pub struct Counted<S> {
    pub inner: S,
    pub counts: Arc<Counts>,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> Counted<S> {
        Counted {
            inner,
            counts: Arc::default(),
        }
    }

    pub fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(context, buffer);
        let read = buffer.filled().len() - before;
        self.counts.read.fetch_add(read as u64, Ordering::SeqCst);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(context, bytes);
        if let Poll::Ready(Ok(written)) = polled {
            self.counts
                .written
                .fetch_add(written as u64, Ordering::SeqCst);
        }
        polled
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}
