//! `cargo xtask serve`: the README's first command. On a fresh Debian machine the workspace
//! cannot compile until the C libraries the drivers link (libvirt) are installed, so this
//! installs them first (`drivers/build-deps.sh`, idempotent) and then runs
//! `cargo run --release -p kumo -- serve ARGS`. Everything else a host needs (daemons, the
//! guest image) `kumo serve` prepares itself.

use std::process::Command;

use crate::util::{cargo, root, run as step};

pub fn run(args: &[String]) -> Result<(), String> {
    build_deps()?;
    step(
        "kumo serve",
        cargo()
            .args(["run", "--release", "--quiet", "-p", "kumo", "--", "serve"])
            .args(args),
    )
}

/// Installs the system libraries the build links against (quick when present).
pub fn build_deps() -> Result<(), String> {
    step(
        "build dependencies",
        Command::new("bash")
            .arg(root().join("drivers/build-deps.sh"))
            .current_dir(root()),
    )
}
