//! The accelerator probe boots the tiny image under KVM and trusts only its console. On hosts
//! where KVM hangs it must answer TCG within its deadline and leave no domain behind.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kumo_compute_libvirt::{LibvirtConfig, probe_accelerator};
use kumo_driver_api::Hypervisor;

#[test]
fn probe_answers_within_deadline_and_cleans_up() {
    let id = unique_id();
    let (hv, img, scratch) = match setup(&id) {
        Ok(x) => x,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let before: Vec<String> = hv
        .list()
        .expect("list")
        .into_iter()
        .filter(|n| n.starts_with("kumo-probe-"))
        .collect();
    let cfg = LibvirtConfig {
        console_log_dir: scratch.0.join("probe"),
        ..LibvirtConfig::default()
    };
    let t0 = Instant::now();
    let accel =
        probe_accelerator(&cfg, &img.kernel, &img.initrd, Duration::from_secs(20)).expect("probe");
    eprintln!(
        "probe_accelerator -> {} in {:?}",
        accel.as_str(),
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(40));
    let after: Vec<String> = hv
        .list()
        .expect("list")
        .into_iter()
        .filter(|n| n.starts_with("kumo-probe-"))
        .collect();
    assert_eq!(before, after, "probe domain left behind");
}
