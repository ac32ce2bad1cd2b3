//! `cargo xtask bench`: builds the release binaries and runs the S3 benchmark, which measures an
//! in-process hyper baseline and Kumo in the same run and reports ratios.

use crate::util::{cargo, run as run_step, target_dir};

pub fn run(args: &[String]) -> Result<(), String> {
    let extra: Vec<String> = match args.first().map(String::as_str) {
        Some("--") => args[1..].to_vec(),
        _ => args.to_vec(),
    };
    run_step(
        "release build",
        cargo().args(["build", "--release", "-p", "kumo", "-p", "kumo-bench"]),
    )?;
    let dir = target_dir().join("release");
    let mut bench = std::process::Command::new(dir.join("kumo-bench"));
    bench.arg("--kumo").arg(dir.join("kumo")).args(extra);
    run_step("S3 benchmark", &mut bench)
}
