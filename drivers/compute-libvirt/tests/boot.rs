//! A real guest under TCG through libvirt: boot to the READY marker, hot-plug and unplug a
//! volume the guest sees, reboot (ACPI) and reset keeping earlier console output, destroy and
//! undefine leaving nothing behind. Prints `SKIPPED: …` when libvirtd or the image is missing.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use kumo_driver_api::{DiskSource, DiskSpec, DomainState, Hypervisor};

/// Whether the guest's latest `KUMO-DISKS:` line lists a disk with this serial.
fn has_disk(console: &str, serial: &str) -> bool {
    let want = format!(":{serial}");
    console
        .lines()
        .rfind(|l| l.starts_with("KUMO-DISKS:"))
        .is_some_and(|l| l.split_whitespace().any(|w| w.ends_with(&want)))
}

#[test]
fn guest_boots_sees_hotplugged_disk_survives_reboot_and_is_cleaned_up() {
    let id = unique_id();
    let (hv, img, scratch) = match setup(&id) {
        Ok(x) => x,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let name = format!("i-{id}");
    let guard = DomainGuard {
        hv: &hv,
        name: name.clone(),
    };

    hv.define(&tiny_spec(&name, &img)).expect("define");
    hv.define(&tiny_spec(&name, &img))
        .expect("define again is idempotent");
    assert_eq!(hv.state(&name).expect("state"), Some(DomainState::ShutOff));
    hv.start(&name).expect("start");
    hv.start(&name).expect("start again is idempotent");
    let (out, t) = wait_console(&hv, &name, Duration::from_secs(90), |c| {
        c.contains("KUMO-READY")
    })
    .unwrap_or_else(|c| panic!("no KUMO-READY within 90 s; console:\n{c}"));
    eprintln!("booted to KUMO-READY in {t:?} after start");
    assert!(out.contains("KUMO-BOOT: instance-id=unknown"), "{out}");
    assert_eq!(hv.state(&name).expect("state"), Some(DomainState::Running));
    assert!(hv.list().expect("list").contains(&name));
    let stats = hv.stats(&name).expect("stats");
    assert!(
        stats.cpu_time_ns > 0 && stats.memory_kib >= 128 * 1024,
        "{stats:?}"
    );

    // Hot-plug a volume; the guest reports it within seconds.
    let vol = scratch.0.join(format!("vol-{}.qcow2", &id[..8]));
    let serial = format!("vol{}", &id[..8]);
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&vol)
        .arg("64M")
        .status()
        .expect("qemu-img runs");
    assert!(st.success());
    let disk = DiskSpec {
        source: DiskSource::File {
            path: PathBuf::from(&vol),
            format: "qcow2".into(),
        },
        target: "vdb".into(),
        read_only: false,
        media: kumo_driver_api::DiskMedia::Disk,
    };
    hv.attach_disk(&name, &disk).expect("attach_disk");
    hv.attach_disk(&name, &disk)
        .expect("attach_disk again is idempotent");
    let (_, t) = wait_console(&hv, &name, Duration::from_secs(30), |c| {
        has_disk(c, &serial)
    })
    .unwrap_or_else(|c| panic!("guest never reported {serial}; console:\n{c}"));
    eprintln!("guest saw hot-plugged {serial} {t:?} after attach");
    // `Ok` once the guest released the disk; pending before that (asked again, as the
    // reconciler does on its next pass).
    let asked = std::time::Instant::now();
    while let Err(e) = hv.detach_disk(&name, "vdb") {
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "vdb never left the domain: {e}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let (_, t) = wait_console(&hv, &name, Duration::from_secs(30), |c| {
        !has_disk(c, &serial)
    })
    .unwrap_or_else(|c| panic!("guest never lost {serial}; console:\n{c}"));
    eprintln!("guest saw vdb unplugged {t:?} after detach");
    hv.detach_disk(&name, "vdb")
        .expect("detach_disk of a detached disk is a no-op");

    // ACPI reboot (the image's acpid powers off; libvirt restarts it), then a hard reset.
    hv.reboot(&name).expect("reboot");
    let (_, t) = wait_console(&hv, &name, Duration::from_secs(90), |c| {
        count(c, "KUMO-READY") >= 2
    })
    .unwrap_or_else(|c| panic!("no second boot after reboot; console:\n{c}"));
    eprintln!("rebooted (ACPI) to KUMO-READY in {t:?}");
    hv.reset(&name).expect("reset");
    let (out, t) = wait_console(&hv, &name, Duration::from_secs(90), |c| {
        count(c, "KUMO-READY") >= 3
    })
    .unwrap_or_else(|c| panic!("no third boot after reset; console:\n{c}"));
    eprintln!("reset to KUMO-READY in {t:?}");
    assert_eq!(
        count(&out, "KUMO-INIT"),
        3,
        "the log keeps every boot:\n{out}"
    );
    assert!(out.contains("KUMO-POWEROFF: acpi power button"), "{out}");

    hv.destroy(&name).expect("destroy");
    hv.destroy(&name).expect("destroy again is idempotent");
    assert_eq!(hv.state(&name).expect("state"), Some(DomainState::ShutOff));
    hv.undefine(&name).expect("undefine");
    hv.undefine(&name).expect("undefine again is idempotent");
    assert_eq!(hv.state(&name).expect("state"), None);
    assert!(!hv.list().expect("list").contains(&name));
    assert!(
        hv.console_output(&name, 100).expect("console").len() == 100,
        "the log is the caller's and stays"
    );
    drop(guard);
}

#[test]
fn start_and_destroy_emit_lifecycle_events() {
    let id = unique_id();
    let (hv, img, _scratch) = match setup(&id) {
        Ok(x) => x,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let name = format!("i-{id}");
    let _guard = DomainGuard {
        hv: &hv,
        name: name.clone(),
    };
    hv.define(&tiny_spec(&name, &img)).expect("define");
    hv.start(&name).expect("start");
    let wait_for = |want: DomainState, reason: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            // Other domains on the host produce events too: keep only ours.
            if let Some(ev) = hv.next_event(Duration::from_millis(500))
                && ev.name == name
                && ev.state == want
                && ev.reason == reason
            {
                return ev;
            }
        }
        panic!("no {want:?} ({reason}) event for {name} within 30 s");
    };
    let ev = wait_for(DomainState::Running, "booted");
    assert_eq!(ev.name, name);
    hv.destroy(&name).expect("destroy");
    let ev = wait_for(DomainState::ShutOff, "destroyed");
    assert_eq!(ev.name, name);
}

#[test]
fn unknown_domain_is_reported_as_such() {
    let id = unique_id();
    let (hv, _img, _scratch) = match setup(&id) {
        Ok(x) => x,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let name = format!("i-{id}");
    assert_eq!(hv.state(&name).expect("state"), None);
    assert!(matches!(
        hv.start(&name),
        Err(kumo_driver_api::HypervisorError::NoDomain(_))
    ));
    hv.undefine(&name).expect("undefining nothing succeeds");
    assert!(
        hv.state("../etc").is_err(),
        "names that are not ids are refused"
    );
    assert!(hv.host_info().expect("host_info").vcpus >= 1);
}
