//! `kumo serve`: opens the state, bootstraps the administrator, binds the listeners, serves
//! until SIGTERM or SIGINT, then drains in-flight requests.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kumo_core::iam::Iam;
use kumo_driver_api::{ObjectStore, StateStore};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::router::Router;

/// Logs to stderr, one line per event; `RUST_LOG` overrides the default `info` level. Lines are
/// written in batches by a background thread ([`crate::log`]), so request handlers never wait
/// on stderr; keep the returned guard alive until exit so that the last lines are written.
pub fn init_tracing() -> crate::log::LogGuard {
    let (writer, guard) = crate::log::batch_writer();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // s3s logs every error response at ERROR level; the access line already records them.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,s3s=off"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !ansi {
        crate::access_log::write_directly_to(writer.clone());
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer)
        .with_target(false)
        .init();
    guard
}

/// The data directory is traversable by others (0711, so that QEMU, which runs as its own
/// user, reaches `compute/`) but not listable; everything secret inside is owner-only
/// (`restrict`).
fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
        .with_context(|| format!("setting the mode of {}", dir.display()))?;
    Ok(())
}

/// Makes `path` (when it exists) accessible to its owner only.
pub(crate) fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("restricting {} to its owner", path.display()))
        }
        _ => Ok(()),
    }
}

/// Runs Kumo until a termination signal.
pub async fn run(config: kumo_config::Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir();
    prepare_data_dir(&data_dir)?;
    tracing::info!(data_dir = %data_dir.display(), "starting kumo {}", env!("CARGO_PKG_VERSION"));

    let state_path = data_dir.join("state.redb");
    let state: Arc<dyn StateStore> = Arc::new(
        kumo_state_redb::RedbStateStore::open(&state_path).with_context(|| {
            format!(
                "opening {} (is another kumo running on this data directory?)",
                state_path.display()
            )
        })?,
    );
    restrict(&state_path, 0o600)?;
    let iam = Iam::new(state.clone());
    let (account, key, created) = iam.bootstrap_admin()?;
    let endpoint = format!("http://{}", config.server.listen);
    crate::credentials::write_files(&data_dir, &key, &config.region.name, &endpoint)
        .context("writing the credentials file")?;
    tracing::info!(
        account = %account.id,
        access_key_id = %key.id,
        created,
        credentials = %data_dir.join("credentials").display(),
        "administrator credentials ready"
    );

    let objects: Arc<dyn ObjectStore> = {
        let (cfg, dir) = (config.storage.objects.clone(), data_dir.clone());
        tokio::task::spawn_blocking(move || crate::storage::open_objects(&cfg, &dir)).await??
    };
    let (s3, object_service) = kumo_s3_api::build(
        iam.clone(),
        state.clone(),
        objects,
        &kumo_s3_api::S3Options {
            base_domain: config.s3.base_domain.clone(),
            region: config.region.name.clone(),
            max_object_size: config.s3.max_object_size,
        },
    );
    // Blobs left unreferenced by a crash are removed before any listener accepts a request
    // (an in-flight upload's blob would otherwise look unreferenced), hence before set_ready.
    let gc = object_service
        .collect_garbage()
        .await
        .context("collecting unreferenced blobs")?;
    tracing::info!(
        blobs = gc.blobs,
        deleted = gc.deleted,
        uploads_dropped = gc.uploads_dropped,
        "object garbage collection done"
    );
    let resources = kumo_core::ec2::ResourceStore::open(state.clone())
        .context("loading the EC2 resource store")?;
    let ec2 = kumo_core::ec2::Ec2::new(
        resources,
        kumo_core::ec2::Placement {
            region: config.region.name.clone(),
            zones: config.region.availability_zones.clone(),
        },
    )
    // RegisterImage reads its ImageLocation (bucket/key) through the S3 object service.
    .with_image_locations(Arc::new(object_service.clone()))
    .with_public_pool(&config.network.public_cidr)
    .context("network.public_cidr")?;
    // VPCs recorded before VNIs existed get theirs before any reconciler hands a VPC to a
    // fabric (see kumo_core::ec2::vni).
    let assigned = ec2
        .assign_vnis()
        .context("assigning VPCs' VXLAN identifiers")?;
    if assigned > 0 {
        tracing::info!(
            vpcs = assigned,
            "VXLAN identifiers assigned to existing VPCs"
        );
    }
    for image in &config.images.public {
        let id = ec2
            .register_public_image(&kumo_core::ec2::image::PublicImage {
                name: image.name.clone(),
                description: image.description.clone(),
                block_store_image: image.block_store_image.clone(),
                size_gib: image.size_gib,
                architecture: image.architecture.clone(),
                boot_mode: image.boot_mode.clone(),
                kernel_boot: None,
            })
            .with_context(|| format!("registering the public image {}", image.name))?;
        tracing::info!(image = %image.name, %id, "public image registered");
    }
    // Compute comes up in the background (reaching libvirt, maybe probing the accelerator):
    // S3 and the control plane serve at once; RunInstances answers InsufficientInstanceCapacity
    // until a host is registered.
    let hosts: crate::admin::HostSlot = Arc::default();
    let compute_task = {
        let (cfg, dir, ec2) = (config.compute.clone(), data_dir.clone(), ec2.clone());
        let blocks = config.storage.blocks.clone();
        let net = config.network.clone();
        let hosts = hosts.clone();
        tokio::spawn(async move {
            match crate::compute::start(&cfg, &blocks, &net, &dir, &ec2).await {
                Ok(c) => {
                    if let Some(site) = &c {
                        let _ = hosts.set(site.clone());
                    }
                    c
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "compute failed to start");
                    None
                }
            }
        })
    };
    let query = kumo_ec2_api::QueryFront::new(iam.clone(), &config.region.name)
        .with_client_tokens(kumo_core::query::idempotency::ClientTokens::new(
            state.clone(),
        ))
        .with_ec2(ec2);
    let cors = kumo_s3_api::cors::CorsFront::new(object_service.clone(), &config.s3.base_domain);
    let router = Arc::new(Router::new(s3, cors, query));

    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a clone of `alive`; when all are gone, `drained` yields None.
    let (alive, mut drained) = mpsc::channel::<()>(1);
    let conns = Conns {
        alive,
        stop: stop_rx.clone(),
    };
    let mut tasks = Vec::new();

    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    tracing::info!(addr = %config.server.listen, "listening (HTTP)");
    tasks.push(tokio::spawn(accept_loop(
        listener,
        None,
        router.clone(),
        conns.clone(),
    )));

    if let Some(addr) = config.server.tls_listen {
        let tls = crate::tls::server_config(&config, &data_dir)?;
        restrict(&data_dir.join("tls"), 0o700)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tracing::info!(%addr, cert = %crate::tls::generated_paths(&data_dir).0.display(), "listening (HTTPS)");
        tasks.push(tokio::spawn(accept_loop(
            listener,
            Some(acceptor),
            router.clone(),
            conns.clone(),
        )));
    }

    let admin = crate::admin::AdminServer::new(iam.clone(), hosts);
    tasks.push(tokio::spawn(
        admin.serve(data_dir.join("admin.sock"), stop_rx.clone()),
    ));

    router.set_ready();
    tracing::info!("ready");

    shutdown_signal().await;
    // Guests keep running: the reconciler adopts them again at the next start.
    if compute_task.is_finished() {
        if let Ok(Some(site)) = compute_task.await {
            site.shutdown();
        }
    } else {
        compute_task.abort();
    }
    tracing::info!("shutting down: draining in-flight requests");
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    drop(conns);
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    tokio::select! {
        _ = drained.recv() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over; closing remaining connections"),
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; waiting for Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// What every connection task carries: a liveness token and the stop signal.
#[derive(Clone)]
struct Conns {
    alive: mpsc::Sender<()>,
    stop: watch::Receiver<bool>,
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Arc<Router>,
    conns: Conns,
) {
    let mut stop = conns.stop.clone();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY failed");
        }
        let router = router.clone();
        match tls.clone() {
            None => {
                tokio::spawn(serve_connection(
                    TokioIo::new(stream),
                    peer,
                    false,
                    router,
                    conns.clone(),
                ));
            }
            Some(acceptor) => {
                let conns = conns.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls_stream)) => {
                            serve_connection(TokioIo::new(tls_stream), peer, true, router, conns)
                                .await
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

/// Serves one connection until it ends; on stop, lets in-flight requests finish, then closes.
async fn serve_connection<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    tls: bool,
    router: Arc<Router>,
    conns: Conns,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Conns { alive, mut stop } = conns;
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(kumo_s3_api::client::Connection { tls, peer });
            router.clone().handle(req)
        });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client may send its request and shut its write side (`nc`, some scripts); it still
    // gets its answer, as from AWS.
    builder.http1().half_close(true);
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
    drop(alive);
}
