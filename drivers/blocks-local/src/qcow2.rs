//! Reading the qcow2 header of the store's own files.
//!
//! `info`, `list` and the `InUse` check on delete need each file's virtual size and backing
//! file. Asking `qemu-img info` costs a process per file (~10 ms); the fixed header holds both
//! (qcow2 spec, "Header"), so files the store itself wrote are read directly. Untrusted files
//! (imports) are never parsed here: they go through `qemu-img info` under resource limits.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const MAGIC: u32 = 0x5146_49fb; // "QFI\xfb"
/// The spec caps the backing file name at 1023 bytes.
const MAX_BACKING_NAME: u32 = 1023;

/// The parts of a qcow2 header the store uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// Virtual size in bytes.
    pub size: u64,
    /// The backing file as written in the header, if any.
    pub backing: Option<PathBuf>,
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(x)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

/// Reads the header of the qcow2 file at `path`.
pub(crate) fn read_header(path: &Path) -> std::io::Result<Header> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 32];
    file.read_exact(&mut head)?;
    parse(&head, |offset, len| {
        let mut name = vec![0u8; len];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut name)?;
        Ok(name)
    })
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

fn parse(
    head: &[u8; 32],
    mut read_at: impl FnMut(u64, usize) -> std::io::Result<Vec<u8>>,
) -> std::io::Result<Header> {
    if be_u32(head, 0) != MAGIC {
        return Err(invalid("not a qcow2 file"));
    }
    let version = be_u32(head, 4);
    if version != 2 && version != 3 {
        return Err(invalid("unknown qcow2 version"));
    }
    let backing_offset = be_u64(head, 8);
    let backing_len = be_u32(head, 16);
    let size = be_u64(head, 24);
    let backing = if backing_offset == 0 || backing_len == 0 {
        None
    } else if backing_len > MAX_BACKING_NAME {
        return Err(invalid("backing file name too long"));
    } else {
        let name = read_at(backing_offset, backing_len as usize)?;
        let name = String::from_utf8(name).map_err(|_| invalid("backing file name not UTF-8"))?;
        Some(PathBuf::from(name))
    };
    Ok(Header { size, backing })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(version: u32, backing_offset: u64, backing_len: u32, size: u64) -> [u8; 32] {
        let mut h = [0u8; 32];
        h[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing_offset.to_be_bytes());
        h[16..20].copy_from_slice(&backing_len.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        h
    }

    #[test]
    fn parses_size_and_backing_file() {
        let h = parse(&head(3, 512, 9, 1 << 30), |offset, len| {
            assert_eq!((offset, len), (512, 9));
            Ok(b"/s/b.qcow2"[..9].to_vec())
        })
        .expect("parses");
        assert_eq!(h.size, 1 << 30);
        assert_eq!(h.backing, Some(PathBuf::from("/s/b.qcow")));
        let h = parse(&head(2, 0, 0, 42), |_, _| panic!("no backing read")).expect("parses");
        assert_eq!(
            h,
            Header {
                size: 42,
                backing: None
            }
        );
    }

    #[test]
    fn refuses_what_is_not_qcow2() {
        let mut raw = head(3, 0, 0, 1);
        raw[0] = 0;
        assert!(parse(&raw, |_, _| Ok(vec![])).is_err());
        assert!(parse(&head(4, 0, 0, 1), |_, _| Ok(vec![])).is_err());
        assert!(parse(&head(3, 512, 4096, 1), |_, _| Ok(vec![])).is_err());
        assert!(parse(&head(3, 512, 2, 1), |_, _| Ok(vec![0xff, 0xfe])).is_err());
    }
}
