//! `kumo`: one binary for the whole cloud.
//!
//! - `kumo serve` runs every service on one machine (the embedded defaults: redb state and
//!   objects on the local disk under the data directory).
//! - `kumo admin` creates accounts and manages access keys, talking to the running server over
//!   its private admin socket (or to the data directory directly when no server runs).
//! - `kumo host add/list/remove` registers further compute hosts (through the server), with
//!   `--netns NS --underlay ADDR` a host with a network fabric of its own (VXLAN between hosts).
//!
//! This is the only crate that picks concrete drivers.

mod access_log;
mod admin;
mod compute;
mod credentials;
mod hosts;
mod log;
mod router;
mod serve;
mod storage;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kumo",
    version,
    about = "Kumo: an AWS-compatible private cloud"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs every Kumo service on this machine.
    Serve(ServeArgs),
    /// Manages accounts and access keys.
    Admin(AdminArgs),
    /// Manages compute hosts (through the running server): add (optionally with its own network
    /// fabric: --netns NS --underlay ADDR), list, remove.
    Host(HostArgs),
}

#[derive(Debug, clap::Args)]
struct HostArgs {
    /// Configuration file, to find the data directory.
    #[arg(long, env = "KUMO_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory of the Kumo to manage.
    #[arg(long, env = "KUMO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: admin::HostCommand,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML); defaults apply to everything it leaves out.
    #[arg(long, env = "KUMO_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (state, objects, credentials, TLS material).
    #[arg(long, env = "KUMO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Plain-HTTP listening address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// HTTPS listening address, or `none` to disable HTTPS.
    #[arg(long)]
    tls_listen: Option<String>,
}

#[derive(Debug, clap::Args)]
struct AdminArgs {
    /// Configuration file, to find the data directory.
    #[arg(long, env = "KUMO_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory of the Kumo to manage.
    #[arg(long, env = "KUMO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: admin::AdminCommand,
}

fn load_config(
    path: Option<&PathBuf>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<kumo_config::Config> {
    let mut config = match path {
        Some(p) => kumo_config::Config::load(p)?,
        None => kumo_config::Config::default(),
    };
    if let Some(dir) = data_dir {
        config.storage.data_dir = Some(dir);
    }
    Ok(config)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_main(args),
        Command::Admin(args) => load_config(args.config.as_ref(), args.data_dir)
            .and_then(|config| admin::run(&config.data_dir(), args.command)),
        Command::Host(args) => {
            load_config(args.config.as_ref(), args.data_dir).and_then(|config| {
                admin::run(
                    &config.data_dir(),
                    admin::AdminCommand::Host {
                        command: args.command,
                    },
                )
            })
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kumo: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve_main(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(args.config.as_ref(), args.data_dir)?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    match args.tls_listen.as_deref() {
        None => {}
        Some("none") => config.server.tls_listen = None,
        Some(addr) => {
            config.server.tls_listen = Some(
                addr.parse()
                    .map_err(|e| anyhow::anyhow!("--tls-listen {addr:?}: {e}"))?,
            );
        }
    }
    config.validate()?;
    let _log_guard = serve::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kumo-worker")
        .build()?;
    runtime.block_on(serve::run(config))
}
