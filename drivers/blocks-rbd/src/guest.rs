//! What a guest needs to reach the store's images: the monitors and the cephx key.
//!
//! Both come from the configuration the tools use (`ceph-conf` reads it exactly as librbd does,
//! including defaults for the keyring's location), so [`BlockStore::source`] hands libvirt a
//! self-contained network disk: QEMU, running as another user and confined, never reads the
//! host's `ceph.conf` or keyring.
//!
//! [`BlockStore::source`]: kumo_driver_api::BlockStore::source

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kumo_blocks_local::tool;
use kumo_driver_api::{BlockStoreError, CephxKey, RbdAuth};

use crate::rbd;

/// Monitors as `host:port` (legacy v1 addresses where the conf gives both) and the identity.
#[derive(Debug, Clone)]
pub(crate) struct GuestAccess {
    pub hosts: Vec<String>,
    pub auth: Option<RbdAuth>,
}

/// `ceph-conf --lookup`: `None` when the option is not set (ceph-conf then exits 1).
fn lookup(conf: &Path, user: &str, option: &str) -> Result<Option<String>, BlockStoreError> {
    let mut cmd = Command::new("ceph-conf");
    cmd.arg("-c")
        .arg(conf)
        .args(["-n", &format!("client.{user}"), "--lookup", option]);
    let out = tool::run(&mut cmd, Duration::from_secs(30))
        .map_err(|e| BlockStoreError::Io(format!("ceph-conf --lookup {option}: {e}")))?;
    match out.status.code() {
        Some(0) => Ok(Some(out.stdout.trim().to_owned()).filter(|v| !v.is_empty())),
        Some(1) => Ok(None),
        _ => Err(BlockStoreError::Io(format!(
            "ceph-conf --lookup {option}: {}: {}",
            out.status,
            out.stderr.trim()
        ))),
    }
}

/// Splits `mon_host` into the addresses a guest's librbd should use.
pub(crate) fn monitors(mon_host: &str) -> Vec<String> {
    // Top-level separators are `,`, `;` and blanks; `[v2:…,v1:…]` groups one monitor's
    // addresses and `[::1]` brackets an IPv6 address.
    let mut groups = Vec::new();
    let (mut depth, mut current) = (0, String::new());
    for c in mon_host.chars() {
        match c {
            '[' => {
                depth += 1;
                current.push(c);
            }
            ']' => {
                depth -= 1;
                current.push(c);
            }
            ',' | ';' | ' ' | '\t' if depth == 0 => {
                groups.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    groups.push(current);
    let mut out = Vec::new();
    for group in groups.iter().map(|g| g.trim()).filter(|g| !g.is_empty()) {
        let inner = group
            .strip_prefix('[')
            .and_then(|g| g.strip_suffix(']'))
            .filter(|g| g.starts_with("v1:") || g.starts_with("v2:"));
        let chosen = match inner {
            Some(vec) => {
                let addrs: Vec<&str> = vec.split(',').map(str::trim).collect();
                addrs
                    .iter()
                    .find_map(|a| a.strip_prefix("v1:"))
                    .or_else(|| addrs.iter().find_map(|a| a.strip_prefix("v2:")))
                    .map(str::to_owned)
            }
            None => Some(
                group
                    .strip_prefix("v1:")
                    .or_else(|| group.strip_prefix("v2:"))
                    .unwrap_or(group)
                    .to_owned(),
            ),
        };
        out.extend(chosen);
    }
    out
}

/// Reads the monitors and, when the cluster wants cephx, `client.<user>`'s key.
pub(crate) fn resolve(
    conf: &Path,
    user: &str,
    keyring: Option<&Path>,
) -> Result<GuestAccess, BlockStoreError> {
    let hosts = lookup(conf, user, "mon_host")?
        .map(|m| monitors(&m))
        .unwrap_or_default();
    let wants_cephx =
        lookup(conf, user, "auth_client_required")?.is_none_or(|modes| modes.contains("cephx"));
    if !wants_cephx {
        return Ok(GuestAccess { hosts, auth: None });
    }
    let candidates: Vec<PathBuf> = match keyring {
        Some(k) => vec![k.to_owned()],
        None => lookup(conf, user, "keyring")?
            .unwrap_or_else(|| {
                format!(
                    "/etc/ceph/ceph.client.{user}.keyring,/etc/ceph/ceph.keyring,/etc/ceph/keyring"
                )
            })
            .split([',', ';', ' '])
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect(),
    };
    let file = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        BlockStoreError::Io(format!(
            "no keyring for client.{user} (looked at {candidates:?})"
        ))
    })?;
    let mut cmd = Command::new("ceph-authtool");
    cmd.args(["-p", "-n", &format!("client.{user}")]).arg(file);
    let key = rbd::finish(cmd, &format!("client.{user}"), Duration::from_secs(30))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(BlockStoreError::Io(format!(
            "{} holds no key for client.{user}",
            file.display()
        )));
    }
    Ok(GuestAccess {
        hosts,
        auth: Some(RbdAuth {
            username: user.to_owned(),
            key: CephxKey::new(key),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::monitors;

    #[test]
    fn monitors_prefer_v1_addresses() {
        assert_eq!(
            monitors("[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"),
            ["127.0.0.1:6789"]
        );
        assert_eq!(
            monitors("[v2:10.0.0.1:3300,v1:10.0.0.1:6789],[v2:10.0.0.2:3300]"),
            ["10.0.0.1:6789", "10.0.0.2:3300"]
        );
        assert_eq!(
            monitors("10.0.0.1:6789, 10.0.0.2;10.0.0.3"),
            ["10.0.0.1:6789", "10.0.0.2", "10.0.0.3"]
        );
        assert_eq!(
            monitors("v1:[::1]:6789 [::2]:6789"),
            ["[::1]:6789", "[::2]:6789"]
        );
        assert!(monitors("").is_empty());
    }
}
