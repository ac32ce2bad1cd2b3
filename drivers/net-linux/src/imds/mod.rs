//! The instance metadata service (IMDS) at `169.254.169.254:80` inside every VPC namespace.
//!
//! **Who is asking** is decided by the kernel, not by the guest: every plugged ENI gets its own
//! listening socket inside its VPC's namespace, bound with `SO_BINDTODEVICE` to the ENI's link.
//! A connection accepted on that socket can only have arrived through that link, i.e. from that
//! ENI's guest; the source address (which VPCs may share, and a guest may forge) is never
//! consulted. The responder then asks the [`MetadataSource`] for the ENI's instance.
//!
//! Sockets are created by a short-lived thread that enters the namespace (see
//! [`crate::netns`]) and are then served by the caller's tokio runtime. Every connection is
//! bounded: at most [`MAX_CONNECTIONS`] per ENI, a header read timeout and a total lifetime.

mod respond;
mod token;
mod tree;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use kumo_driver_api::{MetadataSource, NetworkError};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::{JoinHandle, JoinSet};

pub use respond::{ImdsRequest, ImdsResponse, TOKEN_HEADER, TTL_HEADER, respond};
pub use token::TokenSigner;
pub use tree::{Entry, Node, identity_document};

use crate::netns;

/// The metadata address.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Concurrent connections one ENI may hold open.
pub const MAX_CONNECTIONS: usize = 32;
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

struct Listener {
    vpc_id: String,
    netns_inode: Option<u64>,
    ifindex: u32,
    task: JoinHandle<()>,
}

/// The metadata service of one host: a listener per plugged ENI.
pub struct Imds {
    source: Arc<dyn MetadataSource>,
    runtime: Handle,
    tokens: Arc<TokenSigner>,
    port: u16,
    listeners: Mutex<HashMap<String, Listener>>,
}

impl std::fmt::Debug for Imds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imds")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Imds {
    /// A metadata service answering from `source`, serving on `runtime`.
    pub fn new(source: Arc<dyn MetadataSource>, runtime: Handle) -> Arc<Self> {
        Self::with_port(source, runtime, 80)
    }

    /// As [`Imds::new`] on another port (EC2 uses 80).
    pub fn with_port(source: Arc<dyn MetadataSource>, runtime: Handle, port: u16) -> Arc<Self> {
        Arc::new(Self {
            source,
            runtime,
            tokens: Arc::new(TokenSigner::random()),
            port,
            listeners: Mutex::new(HashMap::new()),
        })
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Listener>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves ENI `eni_id` on link `link` (index `ifindex`) of namespace `netns`; succeeds at
    /// once if it is served there already. A link or namespace recreated under the same name
    /// gets a new socket: a device binding is by index, and a socket stays in its namespace.
    pub fn ensure(
        &self,
        vpc_id: &str,
        eni_id: &str,
        netns: &str,
        link: &str,
        ifindex: u32,
    ) -> Result<(), NetworkError> {
        let netns_inode = netns::inode(netns);
        if let Some(l) = self.listeners().get(eni_id)
            && l.ifindex == ifindex
            && l.netns_inode == netns_inode
            && l.vpc_id == vpc_id
            && !l.task.is_finished()
        {
            return Ok(());
        }
        let listener = bind(netns, link, self.port)?;
        let ctx = Arc::new(ConnCtx {
            eni_id: eni_id.to_string(),
            source: self.source.clone(),
            tokens: self.tokens.clone(),
        });
        let task = self.runtime.spawn(accept_loop(listener, ctx));
        let old = self.listeners().insert(
            eni_id.to_string(),
            Listener {
                vpc_id: vpc_id.to_string(),
                netns_inode,
                ifindex,
                task,
            },
        );
        if let Some(old) = old {
            old.task.abort();
        }
        Ok(())
    }

    /// Stops serving `eni_id` (closing its connections).
    pub fn remove(&self, eni_id: &str) {
        if let Some(l) = self.listeners().remove(eni_id) {
            l.task.abort();
        }
    }

    /// Stops serving every ENI of `vpc_id`.
    pub fn remove_vpc(&self, vpc_id: &str) {
        self.listeners().retain(|_, l| {
            let keep = l.vpc_id != vpc_id;
            if !keep {
                l.task.abort();
            }
            keep
        });
    }

    /// ENIs served now.
    pub fn served(&self) -> Vec<String> {
        let mut v: Vec<String> = self.listeners().keys().cloned().collect();
        v.sort();
        v
    }
}

impl Drop for Imds {
    fn drop(&mut self) {
        for (_, l) in self.listeners().drain() {
            l.task.abort();
        }
    }
}

/// Creates the listening socket inside `netns`, bound to `link`.
fn bind(netns: &str, link: &str, port: u16) -> Result<std::net::TcpListener, NetworkError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let link = link.to_string();
    let what = format!("metadata listener on {netns}/{link}");
    netns::run_in(
        Some(netns),
        move || -> std::io::Result<std::net::TcpListener> {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.bind_device(Some(link.as_bytes()))?;
            s.set_nonblocking(true)?;
            s.bind(&SocketAddr::V4(SocketAddrV4::new(ADDRESS, port)).into())?;
            s.listen(64)?;
            Ok(s.into())
        },
    )?
    .map_err(|e| NetworkError::Failed(format!("{what}: {e}")))
}

struct ConnCtx {
    eni_id: String,
    source: Arc<dyn MetadataSource>,
    tokens: Arc<TokenSigner>,
}

async fn accept_loop(listener: std::net::TcpListener, ctx: Arc<ConnCtx>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(eni = %ctx.eni_id, "metadata listener: {e}");
            return;
        }
    };
    let mut conns = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(eni = %ctx.eni_id, "metadata accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= MAX_CONNECTIONS {
            continue; // dropped: the guest holds too many connections
        }
        conns.spawn(serve_connection(stream, ctx.clone()));
    }
}

async fn serve_connection(stream: TcpStream, ctx: Arc<ConnCtx>) {
    // A second handle on the same socket sets the IP TTL per response while hyper owns the
    // stream (token responses leave with the hop limit, everything else with the default).
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(ttl_handle) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let default_ttl = ttl_handle.ttl().unwrap_or(64);
    let ttl_handle = Arc::new(ttl_handle);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        let ttl_handle = ttl_handle.clone();
        async move {
            let r = answer(&req, &ctx).await;
            let _ = ttl_handle.set_ttl(r.ip_ttl.map(u32::from).unwrap_or(default_ttl));
            Ok::<_, Infallible>(to_http(r, req.method() == hyper::Method::HEAD))
        }
    });
    // `half_close`: clients such as `nc` send the request and shut down their write side
    // before the answer is ready; without it hyper drops the connection on that EOF and the
    // guest reads nothing.
    let conn = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
}

async fn answer(req: &Request<Incoming>, ctx: &ConnCtx) -> ImdsResponse {
    let source = ctx.source.clone();
    let eni = ctx.eni_id.clone();
    let md = tokio::task::spawn_blocking(move || source.lookup(&eni))
        .await
        .ok()
        .flatten();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let request = ImdsRequest {
        method: req.method().as_str(),
        path: req.uri().path(),
        token: header(TOKEN_HEADER),
        ttl: header(TTL_HEADER),
        forwarded: req.headers().contains_key("x-forwarded-for"),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    respond(&request, md.as_ref(), &ctx.tokens, now)
}

fn to_http(r: ImdsResponse, head: bool) -> Response<Full<Bytes>> {
    let len = r.body.len();
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(r.body)
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(r.content_type),
    );
    h.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    h.insert(
        http::header::SERVER,
        http::HeaderValue::from_static("EC2ws"),
    );
    for (name, value) in r.headers {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}
