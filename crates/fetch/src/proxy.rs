//! A forward proxy on loopback for a program that makes its own requests (yt-dlp, which follows
//! a page to its media on other hosts): every connection it asks for is checked by the
//! [`Fetcher`]'s rules and made by the proxy itself, to the addresses it checked, so the
//! program never resolves a name or reaches an address the fence refuses (DNS rebinding
//! included). `CONNECT host:port` opens a tunnel (https); an absolute `http://` request is
//! passed on to its host only if plain http may reach it. Bytes coming back are counted across
//! every connection and cut at the policy's limit.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{FetchError, Fetcher};

/// A request head longer than this is refused (browsers send a few kB).
const MAX_HEAD: usize = 32 * 1024;

/// What the connections through the proxy did, for the program's caller to tell.
#[derive(Debug, Default)]
struct Ledger {
    bytes_in: AtomicU64,
    refusals: Mutex<Vec<FetchError>>,
}

impl Ledger {
    fn refuse(&self, e: FetchError) {
        tracing::info!(code = e.code(), reason = %e, "the fenced proxy refused a connection");
        if let Ok(mut list) = self.refusals.lock() {
            list.push(e);
        }
    }
}

/// A running proxy; it stops when dropped.
pub struct FencedProxy {
    addr: SocketAddr,
    ledger: Arc<Ledger>,
    task: JoinHandle<()>,
}

impl FencedProxy {
    pub async fn start(fetcher: Fetcher) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ledger = Arc::new(Ledger::default());
        let fence = Arc::new(fetcher);
        let shared = Arc::clone(&ledger);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (fence, ledger) = (Arc::clone(&fence), Arc::clone(&shared));
                tokio::spawn(async move { serve(client, &fence, &ledger).await });
            }
        });
        Ok(Self { addr, ledger, task })
    }

    /// `http://127.0.0.1:PORT`, for the program's `--proxy`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first connection the fence refused, which is why the program failed if it did.
    pub fn first_refusal(&self) -> Option<FetchError> {
        self.ledger.refusals.lock().ok().and_then(|l| l.first().cloned())
    }

    /// Bytes that came back through the proxy, every connection together.
    pub fn bytes_in(&self) -> u64 {
        self.ledger.bytes_in.load(Ordering::Relaxed)
    }
}

impl Drop for FencedProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, fence: &Fetcher, ledger: &Ledger) {
    let Some((head, rest)) = read_head(&mut client).await else { return };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let opened = if method.eq_ignore_ascii_case("CONNECT") {
        tunnel(target, fence).await.map(|up| (up, None))
    } else {
        forward(&text, target, fence).await.map(|(up, head)| (up, Some(head)))
    };
    let (mut upstream, head) = match opened {
        Ok(o) => o,
        Err(e) => {
            let answer = format!(
                "HTTP/1.1 403 Forbidden\r\nX-Echome-Refused: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                e.code()
            );
            ledger.refuse(e);
            if client.write_all(answer.as_bytes()).await.is_ok() {
                client.shutdown().await.ok();
            }
            return;
        }
    };
    let started = match head {
        None => client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await,
        Some(head) => upstream.write_all(head.as_bytes()).await,
    };
    if started.is_err() || upstream.write_all(&rest).await.is_err() {
        return;
    }
    pipe(client, upstream, fence.policy().max_bytes, ledger).await;
}

/// `CONNECT host:port`: the tunnel's far end, checked (https only: plain http goes by
/// [`forward`], where the proxy sees the request).
async fn tunnel(target: &str, fence: &Fetcher) -> Result<TcpStream, FetchError> {
    let (host, port) = target
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| FetchError::Url(format!("CONNECT to {target:?}: not host:port")))?;
    // A tunnel to another port could carry plain http past the check on it: it is held to
    // plain http's rule (the allowed networks only).
    let addrs = fence.vet_host(host, port, port != 443).await?;
    connect(host, &addrs, fence).await
}

/// An absolute-form `GET http://host/path`: checked as plain http, sent on in origin form with
/// `Connection: close`, so the next request (perhaps to another host) comes on a new,
/// checked connection.
async fn forward(head: &str, target: &str, fence: &Fetcher) -> Result<(TcpStream, String), FetchError> {
    let url = reqwest::Url::parse(target).map_err(|e| FetchError::Url(format!("{e}")))?;
    if url.scheme() != "http" {
        return Err(FetchError::Scheme(url.scheme().to_owned()));
    }
    let host = url.host_str().ok_or_else(|| FetchError::Url("a URL without a host".into()))?.to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs = fence.vet_host(&host, port, true).await?;
    let stream = connect(&host, &addrs, fence).await?;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path = format!("{path}?{q}");
    }
    let version = first.split_whitespace().nth(2).unwrap_or("HTTP/1.1");
    let method = first.split_whitespace().next().unwrap_or("GET");
    let mut out = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !matches!(name.as_str(), "connection" | "proxy-connection" | "proxy-authorization" | "keep-alive")
        {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok((stream, out))
}

/// Connects to one of the checked addresses, and to no other.
async fn connect(host: &str, addrs: &[SocketAddr], fence: &Fetcher) -> Result<TcpStream, FetchError> {
    let timeout = fence.policy().timeout;
    let mut last = String::from("no addresses");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => return Err(FetchError::Timeout(timeout)),
        }
    }
    Err(FetchError::Failed(format!("connecting to {host}: {last}")))
}

/// The request head (through the blank line) and whatever came after it.
async fn read_head(client: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Copies both ways until either side closes; what comes back counts toward `limit`.
async fn pipe(client: TcpStream, upstream: TcpStream, limit: u64, ledger: &Ledger) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();
    let outgoing = async {
        tokio::io::copy(&mut client_read, &mut up_write).await.ok();
        up_write.shutdown().await.ok();
    };
    let incoming = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match up_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let total = ledger.bytes_in.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            if total > limit {
                ledger.refuse(FetchError::TooLarge { limit });
                break;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        client_write.shutdown().await.ok();
    };
    // The answer decides: once it has ended (or was cut), the request side is dropped too; a
    // request side that ends first (a half-close) leaves the answer coming.
    tokio::select! {
        _ = incoming => {}
        _ = async { outgoing.await; std::future::pending::<()>().await } => {}
    }
}
