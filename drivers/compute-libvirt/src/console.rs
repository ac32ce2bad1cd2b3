//! Reading the tail of a guest's serial console log.
//!
//! virtlogd appends everything the guest writes on ttyS0 to `<dir>/<name>.log` (`append='on'`,
//! so a reboot or a stop/start keeps earlier output, as EC2's GetConsoleOutput does). virtlogd
//! rotates a log at its `max_size` (2 MiB by default) to `<name>.log.1`; when the live file holds
//! fewer than `max` bytes, the rest comes from the end of the rotated one.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The last `max` bytes of `path`, preceded by the end of `path.1` when `path` is shorter.
/// A missing log (the guest never started) is empty, not an error.
pub fn tail(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut current = tail_one(path, max)?;
    if current.len() < max {
        let mut rotated_name = path.as_os_str().to_owned();
        rotated_name.push(".1");
        let mut older = tail_one(&PathBuf::from(rotated_name), max - current.len())?;
        if !older.is_empty() {
            older.append(&mut current);
            current = older;
        }
    }
    Ok(current)
}

/// The last `max` bytes of one file; empty when the file does not exist.
fn tail_one(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let want = len.min(max as u64);
    file.seek(SeekFrom::Start(len - want))?;
    let mut buf = Vec::with_capacity(want as usize);
    // The file may grow while we read: take at most `want` bytes.
    file.take(want).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "kumo-console-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).expect("create temp dir");
        d
    }

    #[test]
    fn missing_log_is_empty() {
        let d = dir();
        assert!(tail(&d.join("nope.log"), 100).expect("tail").is_empty());
        std::fs::remove_dir_all(d).expect("cleanup");
    }

    #[test]
    fn short_log_is_returned_whole_and_long_log_is_cut() {
        let d = dir();
        let p = d.join("i-1.log");
        std::fs::write(&p, b"hello\nworld\n").expect("write");
        assert_eq!(tail(&p, 100).expect("tail"), b"hello\nworld\n");
        assert_eq!(tail(&p, 6).expect("tail"), b"world\n");
        assert!(tail(&p, 0).expect("tail").is_empty());
        std::fs::remove_dir_all(d).expect("cleanup");
    }

    #[test]
    fn rotated_log_fills_the_rest() {
        let d = dir();
        let p = d.join("i-2.log");
        std::fs::write(d.join("i-2.log.1"), b"first boot\n").expect("write");
        std::fs::write(&p, b"second\n").expect("write");
        assert_eq!(tail(&p, 100).expect("tail"), b"first boot\nsecond\n");
        assert_eq!(tail(&p, 10).expect("tail"), b"ot\nsecond\n");
        std::fs::remove_dir_all(d).expect("cleanup");
    }
}
