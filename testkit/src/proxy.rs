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
    /// Trips, for good, the connections open at a [`TcpProxy::stall_open`]; new ones take
    /// the next token.
    open: Arc<Mutex<CancellationToken>>,
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
            open: Arc::new(Mutex::new(CancellationToken::new())),
            stop: CancellationToken::new(),
        };
        tokio::spawn(accept(
            listener,
            target.to_owned(),
            proxy.up.clone(),
            proxy.stalled.subscribe(),
            proxy.links.clone(),
            proxy.open.clone(),
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
        trip(&self.links);
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

    /// Silences the connections open now, for good, without closing them, while new ones go
    /// through: a link that died without a word, and a broker that is there for the next.
    /// Only [`TcpProxy::cut`] ends the silenced ones.
    pub fn stall_open(&self) {
        trip(&self.open);
    }
}

/// Cancels the token every connection open now holds; later ones get a fresh one.
fn trip(token: &Mutex<CancellationToken>) {
    let mut token = token.lock().expect("the token lock");
    token.cancel();
    *token = CancellationToken::new();
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
    open: Arc<Mutex<CancellationToken>>,
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
        let silenced = open.lock().expect("the token lock").clone();
        let target = target.clone();
        let stalled = stalled.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                return;
            };
            let (mut from_client, mut to_client) = inbound.into_split();
            let (mut from_server, mut to_server) = outbound.into_split();
            tokio::select! {
                _ = cut.cancelled() => {}
                // Nothing moves again, and both sockets stay open until the cut.
                _ = silenced.cancelled() => cut.cancelled().await,
                _ = forward(&mut from_client, &mut to_server, stalled.clone()) => {}
                _ = forward(&mut from_server, &mut to_client, stalled) => {}
            }
        });
    }
}

/// Copies one direction until either side closes; while stalled, reads nothing (so nothing
/// moves and the sender's buffers fill) until the stall ends.
async fn forward(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
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
