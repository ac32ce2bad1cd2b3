//! Project tasks, as `cargo xtask <task>` (rust-analyzer's habit: one place, no scattered
//! scripts). Each task lives in its own module; this file only dispatches.
//!
//! - `serve`   — installs the libraries the build links, then runs `kumo serve` (release).
//! - `test`    — every test tier: unit and contract tests, the generated-code check and the
//!   botocore protocol round trips, then real clients against the release binary.
//! - `bench`   — the S3 benchmark against a baseline measured in the same run.
//! - `codegen` — regenerates `ec2-api/src/generated/` from the pinned botocore models.

mod bench;
mod ceph;
mod codegen;
mod serve;
mod test;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  serve [ARGS]                         install build libraries if missing, then `kumo serve ARGS` (release build)
  test [--no-compat] [-- PYTEST_ARGS]  all tests (unit, contract, protocol round trips, compat with real clients)
  bench [-- BENCH_ARGS]                S3 benchmark vs. an in-process hyper baseline
  bench --ceph [-- BENCH_ARGS]         S3 benchmark: Kumo on RADOS vs. radosgw on one throwaway Ceph cluster
  codegen                              regenerate ec2-api/src/generated/ from the pinned botocore models
  codegen --check                      fail if the committed generated code differs from a fresh generation
  help                                 this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let result: Result<(), String> = match strs.as_slice() {
        ["serve", rest @ ..] => serve::run(&args[args.len() - rest.len()..]),
        ["test", rest @ ..] => test::run(&args[args.len() - rest.len()..]),
        ["bench", rest @ ..] => bench::run(&args[args.len() - rest.len()..]),
        ["codegen"] => codegen::run(codegen::Mode::Write).map_err(|e| format!("{e:#}")),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check).map_err(|e| format!("{e:#}")),
        ["help" | "--help" | "-h"] | [] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}
