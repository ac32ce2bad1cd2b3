//! `kumo admin`: accounts and access keys; `kumo host`: compute hosts.
//!
//! While `kumo serve` runs it holds the state database, so the CLI talks to it over a Unix
//! socket in the data directory (`admin.sock`, mode 0600: only the operator can use it), one
//! JSON request and one JSON answer per line. When no server runs, the CLI opens the data
//! directory itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use clap::Subcommand;
use kumo_core::compute::hosts::HostFabric;
use kumo_core::iam::{AccessKey, Account, Iam, KeyStatus};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::hosts::HostSite;

/// `kumo admin …` commands.
#[derive(Debug, Clone, Subcommand, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum AdminCommand {
    /// Creates an account and its first access key (printed once).
    AccountCreate {
        /// Unique account name.
        name: String,
    },
    /// Lists accounts.
    AccountList,
    /// Creates an access key for an account (root credentials, or an IAM user's with --user).
    KeyCreate {
        /// Account id or name.
        #[arg(long)]
        account: String,
        /// IAM user name the key belongs to.
        #[arg(long)]
        user: Option<String>,
    },
    /// Lists access keys (never their secrets).
    KeyList {
        /// Only this account's keys (id or name).
        #[arg(long)]
        account: Option<String>,
    },
    /// Revokes an access key: requests signed with it are refused from now on.
    KeyRevoke {
        /// The access key id.
        access_key_id: String,
    },
    /// Manages compute hosts (also `kumo host …`).
    Host {
        #[command(subcommand)]
        command: HostCommand,
    },
}

/// `kumo host …` commands (need a running server: they connect to the host's hypervisor).
#[derive(Debug, Clone, Subcommand, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum HostCommand {
    /// Registers a host by its libvirt URI; the scheduler places instances there from now on.
    ///
    /// Without --netns the host shares this server's network fabric (its libvirtd creates taps
    /// in this server's namespace: a second libvirtd on this machine). With --netns NS
    /// --underlay ADDR it gets a fabric of its own: its libvirtd runs in network namespace NS,
    /// where ADDR is configured, and the VPC routers of the hosts reach each other's ENIs
    /// through VXLAN between underlay addresses (set `[network] underlay_address` for this
    /// server's own host).
    Add {
        /// libvirt URI (`qemu:///session`, `qemu+ssh://root@host2/system`…).
        #[arg(long)]
        uri: String,
        /// Availability zone (default: the region's first).
        #[arg(long)]
        zone: Option<String>,
        /// Host name (default: derived from the URI).
        #[arg(long)]
        name: Option<String>,
        /// The network namespace the host's libvirtd runs in (the host gets its own network
        /// fabric there; needs --underlay).
        #[arg(long, requires = "underlay")]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        netns: Option<String>,
        /// The host's underlay (VXLAN tunnel endpoint) address, configured in --netns.
        #[arg(long, requires = "netns")]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        underlay: Option<std::net::Ipv4Addr>,
    },
    /// Lists hosts: state, CPUs, vCPUs offered/used/free, memory total/used/free, and the
    /// network fabric (namespace, underlay address, prefix of its VPC router namespaces).
    List,
    /// Forgets a host; refused while instances run there unless --force.
    Remove {
        /// Host name.
        name: String,
        /// Remove even with instances recorded there (they are no longer driven).
        #[arg(long)]
        force: bool,
    },
}

/// A host name from a URI: its server part, else its path (`qemu:///session` → `session`).
fn name_from_uri(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let (server, path) = rest.split_once('/').unwrap_or((rest, ""));
    let server = server.rsplit('@').next().unwrap_or(server);
    let base = if server.is_empty() { path } else { server };
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        "host".to_owned()
    } else {
        name
    }
}

/// Carries out a host command on the running server's hosts.
fn execute_host(
    site: &HostSite,
    command: &HostCommand,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<String> {
    match command {
        HostCommand::Add {
            uri,
            zone,
            name,
            netns,
            underlay,
        } => {
            let name = name.clone().unwrap_or_else(|| name_from_uri(uri));
            let fabric = match (netns, underlay) {
                (Some(netns), Some(underlay)) => Some(HostFabric {
                    netns: netns.clone(),
                    underlay: *underlay,
                }),
                (None, None) => None,
                _ => anyhow::bail!("--netns and --underlay go together"),
            };
            site.add(&name, uri, zone.as_deref(), fabric.as_ref(), runtime)
        }
        HostCommand::List => site.list(),
        HostCommand::Remove { name, force } => site.remove(name, *force),
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AdminAnswer {
    Ok(String),
    Error(String),
}

fn key_line(key: &AccessKey) -> String {
    let status = match key.status {
        KeyStatus::Active => "Active",
        KeyStatus::Inactive => "Inactive",
    };
    format!(
        "{}\t{}\t{}\t{}",
        key.id,
        key.account_id,
        key.user_name.as_deref().unwrap_or("(root)"),
        status
    )
}

fn secret_block(account: &Account, key: &AccessKey) -> String {
    format!(
        "account_id = {}\naccount_name = {}\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        account.id,
        account.name,
        key.id,
        key.secret.expose()
    )
}

/// Carries out one command against `iam`; the text is what the CLI prints.
fn execute(iam: &Iam, command: &AdminCommand) -> anyhow::Result<String> {
    Ok(execute_iam(iam, command)?)
}

fn execute_iam(iam: &Iam, command: &AdminCommand) -> kumo_core::Result<String> {
    match command {
        AdminCommand::Host { .. } => Err(kumo_core::Error::InvalidArgument(
            "host commands need a running `kumo serve` with compute (its admin socket)".into(),
        )),
        AdminCommand::AccountCreate { name } => {
            let (account, key) = iam.create_account(name)?;
            Ok(secret_block(&account, &key))
        }
        AdminCommand::AccountList => Ok(iam
            .accounts()?
            .iter()
            .map(|a| format!("{}\t{}\n", a.id, a.name))
            .collect()),
        AdminCommand::KeyCreate { account, user } => {
            let account = iam.resolve_account(account)?;
            let key = iam.create_access_key(&account.id, user.as_deref())?;
            Ok(secret_block(&account, &key))
        }
        AdminCommand::KeyList { account } => {
            let account_id = match account {
                Some(a) => Some(iam.resolve_account(a)?.id),
                None => None,
            };
            Ok(iam
                .access_keys(account_id.as_deref())?
                .iter()
                .map(|k| key_line(k) + "\n")
                .collect())
        }
        AdminCommand::KeyRevoke { access_key_id } => {
            let key = iam.revoke_access_key(access_key_id)?;
            Ok(key_line(&key) + "\n")
        }
    }
}

/// The compute hosts, once compute has started (it starts in the background).
pub type HostSlot = Arc<OnceLock<Arc<HostSite>>>;

/// The server side of the admin socket.
#[derive(Debug, Clone)]
pub struct AdminServer {
    iam: Iam,
    hosts: HostSlot,
}

impl AdminServer {
    /// Serves `iam` and, once set, the compute hosts in `hosts`.
    pub fn new(iam: Iam, hosts: HostSlot) -> Self {
        Self { iam, hosts }
    }

    /// Listens on `path` until `stop` turns true.
    pub async fn serve(self, path: PathBuf, mut stop: watch::Receiver<bool>) {
        let _ = std::fs::remove_file(&path);
        let listener = match bind_private(&path) {
            Ok(l) => l,
            Err(err) => {
                tracing::error!(path = %path.display(), error = %err, "admin socket unavailable");
                return;
            }
        };
        let this = Arc::new(self);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let this = this.clone();
                        tokio::spawn(async move {
                            if let Err(err) = this.session(stream).await {
                                tracing::warn!(error = %err, "admin session failed");
                            }
                        });
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "admin accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                _ = stop.changed() => break,
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    async fn session(&self, stream: UnixStream) -> anyhow::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        while let Some(line) =
            tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line()).await??
        {
            let answer = match serde_json::from_str::<AdminCommand>(&line) {
                Ok(command) => {
                    let iam = self.iam.clone();
                    let site = self.hosts.get().cloned();
                    let runtime = tokio::runtime::Handle::current();
                    let result = tokio::task::spawn_blocking(move || match (&command, site) {
                        (AdminCommand::Host { command }, Some(site)) => {
                            execute_host(&site, command, &runtime)
                        }
                        (AdminCommand::Host { .. }, None) => Err(anyhow::anyhow!(
                            "compute is not running on this server (see its log)"
                        )),
                        _ => execute(&iam, &command),
                    })
                    .await;
                    match result {
                        Ok(Ok(text)) => AdminAnswer::Ok(text),
                        Ok(Err(err)) => AdminAnswer::Error(format!("{err:#}")),
                        Err(err) => AdminAnswer::Error(format!("internal failure: {err}")),
                    }
                }
                Err(err) => AdminAnswer::Error(format!("malformed admin request: {err}")),
            };
            let mut out = serde_json::to_string(&answer)?;
            out.push('\n');
            write.write_all(out.as_bytes()).await?;
        }
        Ok(())
    }
}

fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Runs a command: through the running server's socket, or on the data directory directly.
pub fn run(data_dir: &Path, command: AdminCommand) -> anyhow::Result<()> {
    let socket = data_dir.join("admin.sock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let via_socket = runtime.block_on(async {
        let Ok(stream) = UnixStream::connect(&socket).await else {
            return Ok::<_, anyhow::Error>(None);
        };
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_string(&command)?;
        line.push('\n');
        write.write_all(line.as_bytes()).await?;
        let mut lines = BufReader::new(read).lines();
        let answer = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .context("the server did not answer within 30 s")??
            .context("the server closed the admin socket")?;
        Ok(Some(serde_json::from_str::<AdminAnswer>(&answer)?))
    })?;
    let answer = match via_socket {
        Some(answer) => answer,
        None => {
            let path = data_dir.join("state.redb");
            if !path.exists() {
                anyhow::bail!(
                    "no Kumo state in {} (run `kumo serve` first)",
                    data_dir.display()
                );
            }
            let store = kumo_state_redb::RedbStateStore::open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            let iam = Iam::new(Arc::new(store));
            match execute(&iam, &command) {
                Ok(text) => AdminAnswer::Ok(text),
                Err(err) => AdminAnswer::Error(format!("{err:#}")),
            }
        }
    };
    match answer {
        AdminAnswer::Ok(text) => {
            print!("{text}");
            Ok(())
        }
        AdminAnswer::Error(msg) => anyhow::bail!(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::{HostCommand, name_from_uri};

    #[test]
    fn host_add_travels_with_and_without_a_fabric() {
        // A request from a client that predates --netns/--underlay still parses.
        let old = r#"{"op":"add","uri":"qemu:///session","zone":null,"name":"h2"}"#;
        match serde_json::from_str::<HostCommand>(old).expect("old request") {
            HostCommand::Add {
                netns: None,
                underlay: None,
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        let new = HostCommand::Add {
            uri: "qemu:///session".into(),
            zone: None,
            name: Some("h2".into()),
            netns: Some("ns2".into()),
            underlay: Some(std::net::Ipv4Addr::new(10, 99, 0, 2)),
        };
        let json = serde_json::to_string(&new).expect("json");
        match serde_json::from_str::<HostCommand>(&json).expect("round trip") {
            HostCommand::Add {
                netns: Some(ns),
                underlay: Some(u),
                ..
            } => assert_eq!((ns.as_str(), u.to_string().as_str()), ("ns2", "10.99.0.2")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_names_from_uris() {
        assert_eq!(name_from_uri("qemu:///session"), "session");
        assert_eq!(
            name_from_uri("qemu+ssh://root@host2.lan/system"),
            "host2.lan"
        );
        assert_eq!(
            name_from_uri("qemu+tcp://10.0.0.7:16509/system"),
            "10.0.0.7-16509"
        );
        assert_eq!(name_from_uri("::"), "host");
    }
}
