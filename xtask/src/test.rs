//! `cargo xtask test`: the README's one test command.
//!
//! 0. `drivers/build-deps.sh`: the C libraries the workspace links (libvirt), so it compiles;
//! 1. `compat-tests/install-deps.sh` (Debian and PyPI tools, libvirt and its daemons, the
//!    guest image; idempotent) — first, so the drivers' integration tests find their tools;
//! 2. unit, contract and driver integration tests of every crate (`cargo test --workspace`),
//!    with a throwaway one-node Ceph cluster running for the RBD and RADOS backends;
//! 3. the release binary;
//! 4. the Query protocol checks against the pinned botocore (installed beside the build, so
//!    it never disturbs the machine's own boto3): `codegen --check` (the committed generated
//!    code is what the models produce) and the botocore round trip of every operation;
//! 5. `pytest compat-tests/`: aws-cli, boto3, s3cmd, rclone and the crash test against the real
//!    binary, over HTTP and HTTPS. Missing tools make tests say SKIPPED with the reason (`-rs`);
//!    the Ceph cluster of step 2 is still up (`KUMO_CEPH_CONF`), so the RBD guest scenario runs;
//! 6. the Ceph tier: the S3 files that exercise object data (aws-cli, boto3 objects, multipart,
//!    versioning, the `kill -9` crash test with its RADOS collector checks) a second time, with
//!    `[storage.objects] backend = "rados"` on that cluster (`KUMO_OBJECTS_BACKEND=rados`).

use std::process::Command;

use crate::util::{cargo, root, run as step, target_dir};

/// The compat files run again with S3 data in RADOS: the ones whose outcome depends on the
/// object store (about two minutes); EC2, IAM and protocol files do not touch it.
const RADOS_COMPAT_FILES: &[&str] = &[
    "compat-tests/test_awscli.py",
    "compat-tests/test_boto3_objects.py",
    "compat-tests/test_boto3_multipart.py",
    "compat-tests/test_boto3_versioning.py",
    "compat-tests/test_crash.py",
];

pub fn run_all(compat: bool, pytest_args: &[String]) -> Result<(), String> {
    let root = root();
    crate::serve::build_deps()?;
    if compat {
        step(
            "install test tools",
            Command::new("bash")
                .arg(root.join("compat-tests/install-deps.sh"))
                .current_dir(&root),
        )?;
    }
    // The cluster lives until the end of the run (dropped on every return path).
    let ceph = crate::ceph::Cluster::start()?;
    let ceph_conf = ceph
        .as_ref()
        .map(|c| c.conf.clone().into_os_string())
        .or_else(|| std::env::var_os("KUMO_CEPH_CONF"));
    let mut test = cargo();
    test.args(["test", "--workspace", "--all-targets"]);
    if let Some(conf) = &ceph_conf {
        test.env("KUMO_CEPH_CONF", conf);
    }
    step("unit, contract and driver tests", &mut test)?;
    if !compat {
        eprintln!("\n==> protocol and compat tests: SKIPPED (--no-compat)");
        return Ok(());
    }
    protocol_checks()?;
    step(
        "release build",
        cargo().args(["build", "--release", "-p", "kumo"]),
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
    if let Some(conf) = &ceph_conf {
        pytest.env("KUMO_CEPH_CONF", conf);
    }
    // Where the setup made libvirt and the guest image available, instance scenarios must run:
    // a missing compute host is then a failure, not a skip.
    let image = std::env::var_os("KUMO_GUEST_IMAGE_DIR").map_or_else(
        || "/var/lib/kumo/images/tiny".into(),
        std::path::PathBuf::from,
    );
    if std::path::Path::new("/run/libvirt/libvirt-sock").exists() && image.join("vmlinuz").is_file()
    {
        pytest.env("KUMO_REQUIRE_COMPUTE", "1");
    } else {
        eprintln!("\n==> no libvirt or guest image: instance scenarios will say SKIPPED");
    }
    step(
        "compat tests (real clients against the kumo binary)",
        &mut pytest,
    )?;
    let Some(conf) = ceph_conf else {
        eprintln!("\n==> S3 compat tests on RADOS: SKIPPED (no Ceph cluster)");
        return Ok(());
    };
    step(
        "S3 compat tests again with object data in RADOS (backend = \"rados\")",
        Command::new("python3")
            .args(["-m", "pytest", "-rs", "-q", "-p", "no:cacheprovider"])
            .args(RADOS_COMPAT_FILES)
            .args(pytest_args)
            .env("KUMO_BIN", &kumo)
            .env("KUMO_CEPH_CONF", conf)
            .env("KUMO_OBJECTS_BACKEND", "rados")
            .current_dir(&root),
    )
}

/// Installs the pinned botocore into `target/botocore-VERSION` (no dependencies: boto3's are
/// already present) and returns that directory, to be put first on `PYTHONPATH`.
fn pinned_botocore() -> Result<std::path::PathBuf, String> {
    let version = crate::codegen::BOTOCORE_VERSION;
    let dir = target_dir().join(format!("botocore-{version}"));
    if !dir.join("botocore/__init__.py").exists() {
        step(
            "pinned botocore for the protocol checks",
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "--target",
                ])
                .arg(&dir)
                .arg(format!("botocore=={version}")),
        )?;
    }
    Ok(dir)
}

fn protocol_checks() -> Result<(), String> {
    let botocore = pinned_botocore()?;
    step(
        "generated code is up to date (codegen --check)",
        cargo()
            .args(["xtask", "codegen", "--check"])
            .env("PYTHONPATH", &botocore),
    )?;
    step(
        "botocore round trip of every EC2, ELBv2, STS and IAM operation",
        Command::new("python3")
            .arg(root().join("compat-tests/protocol/roundtrip.py"))
            .env("PYTHONPATH", &botocore)
            .current_dir(root()),
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
