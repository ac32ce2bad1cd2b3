//! cephx keys as libvirt secrets, so QEMU reaches RBD disks without any key on its command
//! line or in a domain document.
//!
//! A disk names its secret by usage (`kumo-ceph client.<user>@<monitors>`, see
//! [`xml::ceph_secret_usage`]); before a domain with such a disk is defined or the disk is
//! attached, the driver makes sure the secret exists and holds the key the block store gave.
//! The `virt` crate has no binding for defining secrets, so that goes through `virsh` (bounded
//! by `timeout`); the key travels in a 0600 file in a 0700 directory, never in an argument.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use kumo_driver_api::{DiskSource, HypervisorError, RbdAuth};
use virt::connect::Connect;
use virt::sys;

use crate::xml;

/// Seconds a `virsh` call may take.
const VIRSH_TIMEOUT: &str = "30";

/// Ensures the secret of every RBD disk with cephx auth among `sources`.
pub(crate) fn ensure_all<'a>(
    conn: &Connect,
    uri: &str,
    sources: impl IntoIterator<Item = &'a DiskSource>,
) -> Result<(), HypervisorError> {
    for source in sources {
        if let DiskSource::Rbd {
            hosts,
            auth: Some(auth),
            ..
        } = source
        {
            ensure(conn, uri, auth, hosts)?;
        }
    }
    Ok(())
}

fn failed(what: impl std::fmt::Display) -> HypervisorError {
    HypervisorError::Failed(format!("ceph secret: {what}"))
}

fn ensure(
    conn: &Connect,
    uri: &str,
    auth: &RbdAuth,
    hosts: &[String],
) -> Result<(), HypervisorError> {
    let usage = xml::ceph_secret_usage(&auth.username, hosts);
    let dir = PrivateDir::new()?;
    let uuid = match find(conn, &usage)? {
        Some(uuid) => uuid,
        None => {
            let doc = dir.write("secret.xml", xml::ceph_secret_xml(&usage).as_bytes())?;
            virsh(uri, &["secret-define", "--file"], &doc)?;
            find(conn, &usage)?
                .ok_or_else(|| failed(format!("secret {usage} missing after its definition")))?
        }
    };
    let key = dir.write("key", auth.key.expose().as_bytes())?;
    virsh(
        uri,
        &["secret-set-value", "--secret", &uuid, "--file"],
        &key,
    )?;
    Ok(())
}

/// The UUID of the ceph secret with this usage name.
fn find(conn: &Connect, usage: &str) -> Result<Option<String>, HypervisorError> {
    let secrets = conn
        .list_all_secrets(0)
        .map_err(|e| failed(format!("listing secrets: {e}")))?;
    // Matched on the document: virt 0.5's `Secret::usage_id` frees a string libvirt owns.
    let name = format!("<name>{}</name>", xml::escape(usage));
    for secret in secrets {
        if secret.usage_type().ok() == Some(sys::VIR_SECRET_USAGE_TYPE_CEPH)
            && secret.xml_desc(0).is_ok_and(|doc| doc.contains(&name))
        {
            return secret
                .uuid_string()
                .map(Some)
                .map_err(|e| failed(format!("uuid: {e}")));
        }
    }
    Ok(None)
}

fn virsh(uri: &str, args: &[&str], file: &std::path::Path) -> Result<String, HypervisorError> {
    let out = Command::new("timeout")
        .args([VIRSH_TIMEOUT, "virsh", "-q", "-c", uri])
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| failed(format!("cannot run virsh: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(failed(format!(
            "virsh {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A 0700 temporary directory removed on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> Result<Self, HypervisorError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kumo-ceph-secret-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| failed(format!("{}: {e}", dir.display())))?;
        Ok(Self(dir))
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<PathBuf, HypervisorError> {
        use std::io::Write;
        let path = self.0.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(data))
            .map_err(|e| failed(format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
