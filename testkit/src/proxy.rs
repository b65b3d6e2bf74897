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
    frozen: Arc<Mutex<Generations>>,
    stop: CancellationToken,
}

/// Connections opened since the last [`TcpProxy::stall_open`] share a generation, which that
/// call freezes for good. Frozen generations are kept: dropping their sender would end
/// their links.
#[derive(Default)]
struct Generations {
    current: watch::Sender<bool>,
    frozen: Vec<watch::Sender<bool>>,
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
            frozen: Arc::new(Mutex::new(Generations::default())),
            stop: CancellationToken::new(),
        };
        tokio::spawn(accept(
            listener,
            target.to_owned(),
            proxy.up.clone(),
            proxy.stalled.subscribe(),
            proxy.links.clone(),
            proxy.frozen.clone(),
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

    /// Silences the connections open now, for good, without closing them, while new ones go
    /// through: a link that died without a word, and a broker that is there for the next.
    /// Only [`TcpProxy::cut`] ends the frozen ones.
    pub fn stall_open(&self) {
        let mut generations = self.frozen.lock().expect("the generations lock");
        let old = std::mem::take(&mut generations.current);
        old.send_replace(true);
        generations.frozen.push(old);
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
    frozen: Arc<Mutex<Generations>>,
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
        let silent = Silence {
            stalled: stalled.clone(),
            frozen: frozen
                .lock()
                .expect("the generations lock")
                .current
                .subscribe(),
        };
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                return;
            };
            let (from_client, to_client) = inbound.into_split();
            let (from_server, to_server) = outbound.into_split();
            tokio::select! {
                _ = cut.cancelled() => {}
                _ = forward(from_client, to_server, silent.clone()) => {}
                _ = forward(from_server, to_client, silent) => {}
            }
        });
    }
}

/// What silences a link: a stall of every link, or its own generation's freeze.
#[derive(Clone)]
struct Silence {
    stalled: watch::Receiver<bool>,
    frozen: watch::Receiver<bool>,
}

impl Silence {
    /// Waits until neither silences the link; `false` if the proxy is gone.
    async fn heard(&mut self) -> bool {
        loop {
            if self.stalled.wait_for(|s| !*s).await.is_err()
                || self.frozen.wait_for(|f| !*f).await.is_err()
            {
                return false;
            }
            if !*self.stalled.borrow() {
                return true;
            }
        }
    }

    /// Waits until either silences the link.
    async fn silenced(&mut self) {
        tokio::select! {
            _ = self.stalled.wait_for(|s| *s) => {}
            _ = self.frozen.wait_for(|f| *f) => {}
        }
    }
}

/// Copies one direction until either side closes; while silenced, reads nothing (so nothing
/// moves and the sender's buffers fill) until the silence ends.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut silence: Silence) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if !silence.heard().await {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = silence.silenced() => continue,
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
