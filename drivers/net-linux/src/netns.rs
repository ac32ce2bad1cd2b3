//! Doing something inside a named network namespace without moving the caller there.
//!
//! A socket belongs to the namespace of the thread that created it, for life. So to listen
//! inside a VPC's namespace (the metadata service) or to write a per-namespace sysctl, a fresh
//! short-lived thread enters the namespace (`setns`, through nix's safe wrapper, so the crate
//! needs no `unsafe`), does the work and exits; the async runtime's threads never change
//! namespace. `ip netns add` keeps namespaces as bind mounts under `/run/netns/NAME`.

use std::path::PathBuf;

use kumo_driver_api::NetworkError;
use nix::sched::{CloneFlags, setns};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The file naming namespace `name`.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Whether the named namespace exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// The identity (nsfs inode) of namespace `name`, `None` if it does not exist. Two namespaces
/// created one after the other under the same name have different identities.
pub fn inode(name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path(name)).ok().map(|m| m.ino())
}

/// The identity of the network namespace process `pid` lives in.
pub fn inode_of_pid(pid: i32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|m| m.ino())
}

/// Runs `f` on a new thread inside namespace `name` (or in the caller's namespace when
/// `None`) and returns its result.
pub fn run_in<T, F>(name: Option<&str>, f: F) -> Result<T, NetworkError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = match name {
        Some(n) => Some(
            std::fs::File::open(path(n))
                .map_err(|e| NetworkError::Failed(format!("network namespace {n}: {e}")))?,
        ),
        None => None,
    };
    let ns = name.unwrap_or("").to_string();
    std::thread::Builder::new()
        .name("kumo-netns".into())
        .spawn(move || {
            if let Some(file) = file {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                    NetworkError::Failed(format!("cannot enter network namespace {ns}: {e}"))
                })?;
            }
            Ok(f())
        })
        .map_err(|e| NetworkError::Failed(format!("cannot spawn a thread: {e}")))?
        .join()
        .map_err(|_| NetworkError::Failed("namespace worker panicked".into()))?
}

/// Writes `value` to the sysctl at `key` (`net/ipv4/ip_forward`) inside namespace `name`.
pub fn sysctl(name: Option<&str>, key: &str, value: &str) -> Result<(), NetworkError> {
    let file = format!("/proc/sys/{key}");
    let value = value.to_string();
    run_in(name, move || {
        std::fs::write(&file, value).map_err(|e| format!("{file}: {e}"))
    })?
    .map_err(|e| NetworkError::Failed(format!("sysctl {e}")))
}
