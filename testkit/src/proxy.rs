//! A TCP proxy between a service and PostgreSQL or RabbitMQ, to cut and restore the link
//! without touching the shared server other tests use.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
};
use tokio_util::sync::CancellationToken;

/// The proxy; dropping it stops it.
pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    stalled: watch::Sender<bool>,
    links: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl TcpProxy {
    /// A proxy on 127.0.0.1:<free port> forwarding to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("a local address");
        let proxy = Self {
            addr,
            up: Arc::new(AtomicBool::new(true)),
            stalled: watch::Sender::new(false),
            links: Arc::new(Mutex::new(CancellationToken::new())),
            stop: CancellationToken::new(),
        };
        tokio::spawn(accept(
            listener,
            target.to_owned(),
            proxy.up.clone(),
            proxy.stalled.subscribe(),
            proxy.links.clone(),
            proxy.stop.clone(),
        ));
        proxy
    }

    /// Where services should connect (`127.0.0.1:<port>`).
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Drops every open connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut links = self.links.lock().expect("the links lock");
        links.cancel();
        *links = CancellationToken::new();
    }

    /// Lets connections through again (and ends a stall).
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.stalled.send_replace(false);
    }

    /// Stops forwarding bytes on every connection, open or new, without closing any: the
    /// link goes silent, as behind a dead router, until [`TcpProxy::restore`] or
    /// [`TcpProxy::cut`].
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.links.lock().expect("the links lock").cancel();
    }
}

async fn accept(
    listener: TcpListener,
    target: String,
    up: Arc<AtomicBool>,
    stalled: watch::Receiver<bool>,
    links: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((inbound, _)) = accepted else {
            continue;
        };
        if !up.load(Ordering::SeqCst) {
            drop(inbound);
            continue;
        }
        let cut = links.lock().expect("the links lock").clone();
        let target = target.clone();
        let stalled = stalled.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                return;
            };
            let (from_client, to_client) = inbound.into_split();
            let (from_server, to_server) = outbound.into_split();
            tokio::select! {
                _ = cut.cancelled() => {}
                _ = forward(from_client, to_server, stalled.clone()) => {}
                _ = forward(from_server, to_client, stalled) => {}
            }
        });
    }
}

/// Copies one direction until either side closes; while stalled, reads nothing (so nothing
/// moves and the sender's buffers fill) until the stall ends.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = stalled.wait_for(|s| *s) => continue,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
