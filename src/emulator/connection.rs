//! A TCP listener for `axum::serve` whose connections a request handler can
//! abort, so a fault can close a connection without any HTTP response.
//!
//! Each accepted stream carries a [`ConnectionAbort`] switch that handlers
//! get as `ConnectInfo<ConnectionAbort>`. Once the switch is on, every read
//! and write of the stream fails, so hyper drops the connection instead of
//! writing the response, and the client sees the socket close.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A [`TcpListener`] whose streams are [`AbortableStream`]s.
#[derive(Debug)]
pub struct AbortableListener(pub TcpListener);

impl Listener for AbortableListener {
    type Io = AbortableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let stream = AbortableStream {
            stream,
            abort: ConnectionAbort::default(),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The switch that aborts one connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectionAbort(Arc<AtomicBool>);

impl ConnectionAbort {
    /// Makes every later read and write of the connection fail.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn check(&self) -> io::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection aborted by an injected fault",
            ))
        } else {
            Ok(())
        }
    }
}

impl Connected<IncomingStream<'_, AbortableListener>> for ConnectionAbort {
    fn connect_info(stream: IncomingStream<'_, AbortableListener>) -> Self {
        stream.io().abort.clone()
    }
}

/// A TCP stream that fails once its [`ConnectionAbort`] is triggered.
#[derive(Debug)]
pub struct AbortableStream {
    stream: TcpStream,
    abort: ConnectionAbort,
}

impl AsyncRead for AbortableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.abort.check()?;
        Pin::new(&mut self.stream).poll_read(context, buf)
    }
}

impl AsyncWrite for AbortableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.abort.check()?;
        Pin::new(&mut self.stream).poll_write(context, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.abort.check()?;
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.abort.check()?;
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}
