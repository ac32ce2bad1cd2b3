//! Mapping libvirt errors onto the seam's [`HypervisorError`], in one place.

use kumo_driver_api::HypervisorError;
use virt::sys;

/// Maps a libvirt error raised while handling domain `name`.
pub(crate) fn map(e: &virt::error::Error, name: &str) -> HypervisorError {
    classify(e.code().to_raw(), name, e.message())
}

/// The pure part of [`map`]: libvirt error number → seam error.
pub(crate) fn classify(code: u32, name: &str, message: &str) -> HypervisorError {
    match code {
        sys::VIR_ERR_NO_DOMAIN => HypervisorError::NoDomain(name.to_string()),
        sys::VIR_ERR_NO_CONNECT | sys::VIR_ERR_INVALID_CONN | sys::VIR_ERR_RPC => {
            HypervisorError::Unavailable(message.to_string())
        }
        _ => HypervisorError::Failed(message.to_string()),
    }
}

/// Domain names become file names (console logs) and XML text: accept what instance ids and
/// Kumo's own probe names use, nothing that could climb out of a directory.
pub(crate) fn check_name(name: &str) -> Result<(), HypervisorError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(HypervisorError::Failed(format!(
            "invalid domain name {name:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_libvirt_codes() {
        assert!(
            matches!(classify(sys::VIR_ERR_NO_DOMAIN, "i-1", "x"), HypervisorError::NoDomain(n) if n == "i-1")
        );
        assert!(matches!(
            classify(sys::VIR_ERR_RPC, "i-1", "x"),
            HypervisorError::Unavailable(_)
        ));
        assert!(matches!(
            classify(sys::VIR_ERR_OPERATION_INVALID, "i-1", "x"),
            HypervisorError::Failed(_)
        ));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("i-0123456789abcdef0").is_ok());
        assert!(check_name("kumo-probe-1a2b").is_ok());
        for bad in [
            "",
            "../etc/passwd",
            ".hidden",
            "a/b",
            "a b",
            "x'y",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
