//! `cargo xtask test`: the README's one test command.
//!
//! 1. unit and contract tests of every crate (`cargo test --workspace`);
//! 2. the release binary;
//! 3. `compat-tests/install-deps.sh` (Debian and PyPI tools, idempotent);
//! 4. `pytest compat-tests/`: aws-cli, boto3, s3cmd, rclone and the crash test against the real
//!    binary, over HTTP and HTTPS. Missing tools make tests say SKIPPED with the reason (`-rs`).

use std::process::Command;

use crate::util::{cargo, root, run as step, target_dir};

pub fn run_all(compat: bool, pytest_args: &[String]) -> Result<(), String> {
    step(
        "unit and contract tests",
        cargo().args(["test", "--workspace", "--all-targets"]),
    )?;
    if !compat {
        eprintln!("\n==> compat tests: SKIPPED (--no-compat)");
        return Ok(());
    }
    step(
        "release build",
        cargo().args(["build", "--release", "-p", "kumo"]),
    )?;
    let root = root();
    step(
        "install test tools",
        Command::new("bash")
            .arg(root.join("compat-tests/install-deps.sh"))
            .current_dir(&root),
    )?;
    let kumo = target_dir().join("release/kumo");
    let mut pytest = Command::new("python3");
    pytest
        .args([
            "-m",
            "pytest",
            "compat-tests",
            "-rs",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .args(pytest_args)
        .env("KUMO_BIN", &kumo)
        .current_dir(&root);
    step(
        "compat tests (real clients against the kumo binary)",
        &mut pytest,
    )
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut compat = true;
    let mut pytest_args = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--no-compat" => compat = false,
            "--" => pytest_args.extend(iter.by_ref().cloned()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    run_all(compat, &pytest_args)
}
