//! Vetting an image file before it enters the store.
//!
//! Images come from users. A qcow2 file can name a backing file or an external data file
//! anywhere on the host (`/etc/shadow`, another tenant's volume); flattening it on import
//! would copy that host file into a disk the user can read — a known qcow2 attack. So an
//! import must be a self-contained qcow2 or a raw file; anything else (vmdk with extents,
//! LUKS, a backing chain) is refused. The probe runs `qemu-img info` (which does not open
//! backing files) under `prlimit` (1 GiB address space, 30 s CPU), as OpenStack does,
//! because a hostile header can make qemu-img allocate or spin.
//!
//! The file is probed once and then converted with the probed format given explicitly
//! (`-f`), so no second guess can differ. The caller must own the file (Kumo downloads
//! imports to its own temporary directory): a file a user can rewrite between probe and
//! convert defeats any check.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The `qemu-img info --output=json FILE` command, under `prlimit` (1 GiB address space, 30 s
/// CPU) when `limit` is set and `prlimit` is installed. Every block store probes through it.
pub fn info_command(qemu_img: &Path, file: &Path, limit: bool) -> Command {
    let mut cmd = match find_in_path("prlimit").filter(|_| limit) {
        Some(prlimit) => {
            let mut cmd = Command::new(prlimit);
            cmd.args(["--as=1073741824", "--cpu=30", "--"])
                .arg(qemu_img);
            cmd
        }
        None => Command::new(qemu_img),
    };
    cmd.args(["info", "--output=json"]).arg(file);
    cmd
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// What the probe learned about an acceptable image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// `qcow2` or `raw`.
    pub format: &'static str,
    /// Virtual size in bytes.
    pub size: u64,
}

/// Judges `qemu-img info --output=json` output; `Err` explains the refusal.
pub fn judge(info_json: &str) -> Result<Probed, String> {
    let info: Value = serde_json::from_str(info_json)
        .map_err(|e| format!("unreadable image information: {e}"))?;
    let format = match info.get("format").and_then(Value::as_str) {
        Some("qcow2") => "qcow2",
        Some("raw") => "raw",
        Some(other) => return Err(format!("format {other} is not supported (qcow2 or raw)")),
        None => return Err("unknown image format".to_owned()),
    };
    if let Some(backing) = info
        .get("full-backing-filename")
        .or_else(|| info.get("backing-filename"))
    {
        return Err(format!(
            "the image has a backing file ({backing}); import a flattened image"
        ));
    }
    let specific = info.pointer("/format-specific/data");
    if let Some(data_file) = specific.and_then(|d| d.get("data-file")) {
        return Err(format!("the image has an external data file ({data_file})"));
    }
    if specific
        .and_then(|d| d.get("corrupt"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Err("the image is marked corrupt".to_owned());
    }
    if info.get("encrypted").and_then(Value::as_bool) == Some(true) {
        return Err("encrypted images are not supported".to_owned());
    }
    let size = info
        .get("virtual-size")
        .and_then(Value::as_u64)
        .ok_or("the image has no virtual size")?;
    Ok(Probed { format, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_qcow2_and_raw() {
        let qcow2 = r#"{"virtual-size": 4194304, "format": "qcow2",
            "format-specific": {"type": "qcow2", "data": {"compat": "1.1", "corrupt": false}}}"#;
        assert_eq!(
            judge(qcow2),
            Ok(Probed {
                format: "qcow2",
                size: 4_194_304
            })
        );
        let raw = r#"{"virtual-size": 1048576, "filename": "r.img", "format": "raw"}"#;
        assert_eq!(
            judge(raw),
            Ok(Probed {
                format: "raw",
                size: 1_048_576
            })
        );
    }

    #[test]
    fn refuses_backing_and_data_files() {
        let backing = r#"{"virtual-size": 1, "format": "qcow2",
            "backing-filename": "/etc/shadow", "full-backing-filename": "/etc/shadow"}"#;
        assert!(judge(backing).is_err_and(|e| e.contains("backing")));
        let data_file = r#"{"virtual-size": 1, "format": "qcow2",
            "format-specific": {"type": "qcow2", "data": {"data-file": "/dev/sda"}}}"#;
        assert!(judge(data_file).is_err_and(|e| e.contains("data file")));
    }

    #[test]
    fn refuses_other_formats_and_damage() {
        assert!(judge(r#"{"virtual-size": 1, "format": "vmdk"}"#).is_err());
        assert!(judge(r#"{"virtual-size": 1, "format": "luks"}"#).is_err());
        assert!(judge(r#"{"virtual-size": 1, "format": "qcow2", "encrypted": true}"#).is_err());
        let corrupt = r#"{"virtual-size": 1, "format": "qcow2",
            "format-specific": {"data": {"corrupt": true}}}"#;
        assert!(judge(corrupt).is_err());
        assert!(judge(r#"{"format": "raw"}"#).is_err());
        assert!(judge("not json").is_err());
    }
}
