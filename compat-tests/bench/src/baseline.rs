//! The baseline: the least an HTTP server can do for the same requests.
//!
//! A hyper 1.x HTTP/1.1 server, in this process but on its own runtime (so it does not share
//! worker threads with the client, like Kumo in its own process), that answers GET with a
//! preallocated body and PUT by reading and discarding the body. Kumo's figures are divided
//! by these, measured minutes apart on the same machine, which cancels most of the noise of a
//! shared machine. Authentication headers are ignored.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running baseline server; it stops when the runtime is dropped.
#[derive(Debug)]
pub struct Baseline {
    pub addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl Baseline {
    /// Starts on 127.0.0.1 (random port); `objects` maps paths (`/bucket/key`) to GET bodies.
    pub fn start(objects: HashMap<String, Bytes>, worker_threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name("baseline")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(accept_loop(listener, Arc::new(objects)));
        Ok(Self { addr, runtime })
    }

    /// Stops the server without waiting for open connections.
    pub fn stop(self) {
        self.runtime.shutdown_background();
    }
}

/// Accepts until the runtime shuts down (which ends this task).
async fn accept_loop(listener: TcpListener, objects: Arc<HashMap<String, Bytes>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Transient accept errors (EMFILE…): back off briefly instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let objects = objects.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, objects.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    objects: Arc<HashMap<String, Bytes>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match *req.method() {
        Method::GET => match objects.get(req.uri().path()) {
            Some(body) => Response::new(Full::new(body.clone())),
            None => status(StatusCode::NOT_FOUND),
        },
        Method::PUT => {
            let mut body = req.into_body();
            while let Some(frame) = body.frame().await {
                if frame.is_err() {
                    return Ok(status(StatusCode::BAD_REQUEST));
                }
            }
            let mut resp = status(StatusCode::OK);
            resp.headers_mut().insert(
                http::header::ETAG,
                http::HeaderValue::from_static("\"d41d8cd98f00b204e9800998ecf8427e\""),
            );
            resp
        }
        _ => status(StatusCode::METHOD_NOT_ALLOWED),
    };
    Ok(response)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}
