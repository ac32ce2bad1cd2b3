//! Project tasks, as `cargo xtask <task>` (rust-analyzer's habit: one place, no scattered scripts).
//!
//! - `test`  — every test tier: unit and contract tests, then real clients against the release
//!   binary (`compat-tests/`), installing what they need first.
//! - `bench` — the S3 benchmark against a baseline measured in the same run.

mod bench;
mod test;
mod util;

fn usage() -> ! {
    eprintln!(
        "usage: cargo xtask <task>\n\n\
         tasks:\n  \
         test [--no-compat] [-- PYTEST_ARGS]   all tests (unit, contract, compat with real clients)\n  \
         bench [-- BENCH_ARGS]                 S3 benchmark vs. an in-process hyper baseline"
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_else(|| usage());
    let rest: Vec<String> = args.collect();
    let result = match task.as_str() {
        "test" => test::run(&rest),
        "bench" => bench::run(&rest),
        "help" | "--help" | "-h" => usage(),
        other => {
            eprintln!("unknown task {other:?}");
            usage()
        }
    };
    if let Err(err) = result {
        eprintln!("xtask {task}: {err}");
        std::process::exit(1);
    }
}
