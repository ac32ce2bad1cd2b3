//! The aws-cli shared-credentials and config files written to the data directory on start, so
//! that `AWS_SHARED_CREDENTIALS_FILE=DIR/credentials aws --endpoint-url … s3 ls` works at once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use kumo_core::iam::AccessKey;

/// Writes `contents` to `path` atomically with mode 0600 (temporary file, fsync, rename).
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// `DIR/credentials` (profile `default`) and `DIR/config` (region and endpoint).
pub fn write_files(
    dir: &Path,
    key: &AccessKey,
    region: &str,
    endpoint: &str,
) -> std::io::Result<()> {
    let credentials = format!(
        "# Written by kumo serve: the administrator's access key.\n[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.id,
        key.secret.expose()
    );
    write_private(&dir.join("credentials"), &credentials)?;
    let config = format!(
        "# Written by kumo serve.\n[default]\nregion = {region}\nendpoint_url = {endpoint}\n"
    );
    write_private(&dir.join("config"), &config)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn credentials_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        write_private(&path, "[default]\n").expect("write");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "[default]\n");
    }
}
