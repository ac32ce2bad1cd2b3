//! [`LibvirtHypervisor`]: the [`Hypervisor`] seam over one libvirt connection.
//!
//! Every call blocks on libvirt; callers run it off the async runtime (see the trait's docs).
//! One `Connect` serves parallel calls (libvirt's client is thread-safe). Idempotence is made
//! here, not hoped for: "already running", "already off", "no such domain" on undefine, and a
//! disk already attached at the same target are successes.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kumo_driver_api::{
    DiskSource, DiskSpec, DomainEvent, DomainSpec, DomainState, DomainStats, HostInfo, Hypervisor,
    HypervisorError,
};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::sys;

use crate::config::{HypervisorKind, LibvirtConfig};
use crate::error::{check_name, map};
use crate::events::{self, EVENT_QUEUE, Registration};
use crate::{ceph_secret, console, xml};

/// A libvirt host. Construct with [`LibvirtHypervisor::connect`].
///
/// The connection is re-opened (and events re-subscribed) on the next call after libvirt
/// reports it dead, so a restarted libvirtd costs the calls made while it was down, not the
/// driver.
pub struct LibvirtHypervisor {
    cfg: LibvirtConfig,
    session: Mutex<Arc<Session>>,
    tx: SyncSender<DomainEvent>,
    rx: Mutex<Receiver<DomainEvent>>,
}

/// One open connection and its event subscription.
struct Session {
    // Field order matters: the registration is dropped before the connection it is on.
    _events: Registration,
    conn: Connect,
}

impl Session {
    fn open(cfg: &LibvirtConfig, tx: SyncSender<DomainEvent>) -> Result<Session, HypervisorError> {
        let conn = Connect::open(Some(&cfg.uri))
            .map_err(|e| HypervisorError::Unavailable(format!("{}: {}", cfg.uri, e.message())))?;
        let registration = events::register(&conn, tx)?;
        Ok(Session {
            _events: registration,
            conn,
        })
    }
}

impl std::fmt::Debug for LibvirtHypervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibvirtHypervisor")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl LibvirtHypervisor {
    /// Opens the connection named by `cfg.uri`, silences libvirt's default stderr error
    /// printer (errors are returned, not printed), and subscribes to lifecycle events.
    pub fn connect(cfg: LibvirtConfig) -> Result<Self, HypervisorError> {
        virt::error::clear_error_callback();
        events::ensure_event_loop()?;
        let (tx, rx) = sync_channel(EVENT_QUEUE);
        let session = Session::open(&cfg, tx.clone())?;
        if cfg.kind() == HypervisorKind::Qemu {
            std::fs::create_dir_all(&cfg.console_log_dir).map_err(|e| {
                HypervisorError::Failed(format!(
                    "console log dir {}: {e}",
                    cfg.console_log_dir.display()
                ))
            })?;
        }
        Ok(LibvirtHypervisor {
            cfg,
            session: Mutex::new(Arc::new(session)),
            tx,
            rx: Mutex::new(rx),
        })
    }

    /// The live session, re-opened first if libvirt closed it (libvirtd restarted).
    fn conn(&self) -> Result<Arc<Session>, HypervisorError> {
        let mut current = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.conn.is_alive().unwrap_or(false) {
            return Ok(Arc::clone(&current));
        }
        tracing::warn!(uri = %self.cfg.uri, "libvirt connection lost; reconnecting");
        let fresh = Arc::new(Session::open(&self.cfg, self.tx.clone())?);
        *current = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// The configuration this driver runs with.
    pub fn config(&self) -> &LibvirtConfig {
        &self.cfg
    }

    fn lookup(&self, name: &str) -> Result<Domain, HypervisorError> {
        check_name(name)?;
        self.conn()?
            .conn
            .lookup_domain_by_name(name)
            .map_err(|e| map(&e, name))
    }

    fn active(dom: &Domain, name: &str) -> Result<bool, HypervisorError> {
        dom.is_active().map_err(|e| map(&e, name))
    }

    /// `AFFECT_CONFIG`, plus `AFFECT_LIVE` when the domain runs: device changes persist and
    /// apply now.
    fn affect(dom: &Domain, name: &str) -> Result<u32, HypervisorError> {
        let mut flags = sys::VIR_DOMAIN_AFFECT_CONFIG;
        if Self::active(dom, name)? {
            flags |= sys::VIR_DOMAIN_AFFECT_LIVE;
        }
        Ok(flags)
    }
}

/// libvirt's `virDomainState` → the seam's state.
pub(crate) fn map_state(raw: u32) -> DomainState {
    match raw {
        sys::VIR_DOMAIN_PAUSED | sys::VIR_DOMAIN_PMSUSPENDED => DomainState::Paused,
        sys::VIR_DOMAIN_SHUTDOWN => DomainState::ShuttingDown,
        sys::VIR_DOMAIN_SHUTOFF => DomainState::ShutOff,
        sys::VIR_DOMAIN_CRASHED => DomainState::Crashed,
        // RUNNING, BLOCKED (waiting for I/O) and the transient NOSTATE: the process is up.
        _ => DomainState::Running,
    }
}

impl Hypervisor for LibvirtHypervisor {
    fn host_info(&self) -> Result<HostInfo, HypervisorError> {
        let info = self.conn()?.conn.node_info().map_err(|e| map(&e, ""))?;
        Ok(HostInfo {
            vcpus: info.cpus,
            memory_mib: info.memory / 1024,
        })
    }

    fn define(&self, spec: &DomainSpec) -> Result<(), HypervisorError> {
        check_name(&spec.name)?;
        for d in &spec.disks {
            check_name(&d.target)?;
        }
        let mut doc = xml::domain_xml(spec, &self.cfg);
        // Redefining needs the existing UUID, or libvirt sees a second domain of the same name.
        let session = self.conn()?;
        ceph_secret::ensure_all(
            &session.conn,
            &self.cfg.uri,
            spec.disks.iter().map(|d| &d.source),
        )?;
        match session.conn.lookup_domain_by_name(&spec.name) {
            Ok(existing) => {
                let uuid = existing.uuid_string().map_err(|e| map(&e, &spec.name))?;
                doc = xml::with_uuid(&doc, &uuid);
            }
            Err(e) if e.code().to_raw() == sys::VIR_ERR_NO_DOMAIN => {}
            Err(e) => return Err(map(&e, &spec.name)),
        }
        session
            .conn
            .define_domain_xml(&doc)
            .map(|_| ())
            .map_err(|e| map(&e, &spec.name))
    }

    fn start(&self, name: &str) -> Result<(), HypervisorError> {
        let dom = self.lookup(name)?;
        if Self::active(&dom, name)? {
            return Ok(());
        }
        match dom.create() {
            Ok(_) => Ok(()),
            // Lost a race with another starter: running is what was asked for.
            Err(_) if Self::active(&dom, name)? => Ok(()),
            Err(e) => Err(map(&e, name)),
        }
    }

    fn shutdown(&self, name: &str) -> Result<(), HypervisorError> {
        let dom = self.lookup(name)?;
        if !Self::active(&dom, name)? {
            return Ok(());
        }
        match dom.shutdown_flags(sys::VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) {
            Ok(()) => Ok(()),
            Err(_) if !Self::active(&dom, name)? => Ok(()),
            Err(e) => Err(map(&e, name)),
        }
    }

    fn destroy(&self, name: &str) -> Result<(), HypervisorError> {
        let dom = self.lookup(name)?;
        if !Self::active(&dom, name)? {
            return Ok(());
        }
        match dom.destroy() {
            Ok(()) => Ok(()),
            Err(_) if !Self::active(&dom, name)? => Ok(()),
            Err(e) => Err(map(&e, name)),
        }
    }

    fn reboot(&self, name: &str) -> Result<(), HypervisorError> {
        let dom = self.lookup(name)?;
        if !Self::active(&dom, name)? {
            return Err(HypervisorError::Failed(format!("{name} is not running")));
        }
        dom.reboot(sys::VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
            .map_err(|e| map(&e, name))
    }

    fn reset(&self, name: &str) -> Result<(), HypervisorError> {
        let dom = self.lookup(name)?;
        if !Self::active(&dom, name)? {
            return Err(HypervisorError::Failed(format!("{name} is not running")));
        }
        dom.reset().map_err(|e| map(&e, name))
    }

    fn undefine(&self, name: &str) -> Result<(), HypervisorError> {
        let dom = match self.lookup(name) {
            Ok(d) => d,
            Err(HypervisorError::NoDomain(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if Self::active(&dom, name)? {
            return Err(HypervisorError::Failed(format!(
                "{name} is running; destroy it first"
            )));
        }
        let flags = match self.cfg.kind() {
            HypervisorKind::Qemu => {
                sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                    | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                    | sys::VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
                    | sys::VIR_DOMAIN_UNDEFINE_NVRAM
            }
            HypervisorKind::Xen => {
                sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_NVRAM
            }
        };
        match dom.undefine_flags(flags) {
            Ok(()) => Ok(()),
            Err(e) => match map(&e, name) {
                HypervisorError::NoDomain(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    fn state(&self, name: &str) -> Result<Option<DomainState>, HypervisorError> {
        let dom = match self.lookup(name) {
            Ok(d) => d,
            Err(HypervisorError::NoDomain(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match dom.state() {
            Ok((state, _reason)) => Ok(Some(map_state(state.to_raw()))),
            Err(e) => match map(&e, name) {
                HypervisorError::NoDomain(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    fn list(&self) -> Result<Vec<String>, HypervisorError> {
        let doms = self
            .conn()?
            .conn
            .list_all_domains(0)
            .map_err(|e| map(&e, ""))?;
        let mut names = Vec::with_capacity(doms.len());
        let mark = self.config().owner_mark();
        for d in doms {
            if let Some(mark) = &mark {
                match d.xml_desc(0) {
                    Ok(xml) if xml.contains(&format!("<description>{mark}</description>")) => {}
                    Ok(_) => continue,
                    Err(e) if e.code().to_raw() == sys::VIR_ERR_NO_DOMAIN => continue,
                    Err(e) => return Err(map(&e, "")),
                }
            }
            match d.name() {
                Ok(n) => names.push(n),
                // Undefined between listing and naming: it is gone, skip it.
                Err(e) if e.code().to_raw() == sys::VIR_ERR_NO_DOMAIN => {}
                Err(e) => return Err(map(&e, "")),
            }
        }
        names.sort();
        Ok(names)
    }

    fn stats(&self, name: &str) -> Result<DomainStats, HypervisorError> {
        let info = self.lookup(name)?.info().map_err(|e| map(&e, name))?;
        Ok(DomainStats {
            cpu_time_ns: info.cpu_time,
            memory_kib: info.memory,
        })
    }

    fn attach_disk(&self, name: &str, disk: &DiskSpec) -> Result<(), HypervisorError> {
        check_name(&disk.target)?;
        let dom = self.lookup(name)?;
        let live = dom.xml_desc(0).map_err(|e| map(&e, name))?;
        if let Some(existing) = xml::find_disk_element(&live, &disk.target) {
            let source = match &disk.source {
                DiskSource::File { path, .. } => xml::escape(&path.to_string_lossy()),
                DiskSource::Rbd { name, .. } => xml::escape(name),
            };
            return if existing.contains(&format!("'{source}'")) {
                Ok(())
            } else {
                Err(HypervisorError::Failed(format!(
                    "{name}: device {} is in use by another disk",
                    disk.target
                )))
            };
        }
        let flags = Self::affect(&dom, name)?;
        ceph_secret::ensure_all(&self.conn()?.conn, &self.cfg.uri, [&disk.source])?;
        dom.attach_device_flags(&xml::disk_xml(disk, &self.cfg), flags)
            .map_err(|e| map(&e, name))
    }

    fn detach_disk(&self, name: &str, target: &str) -> Result<(), HypervisorError> {
        check_name(target)?;
        let dom = self.lookup(name)?;
        let live = dom.xml_desc(0).map_err(|e| map(&e, name))?;
        let Some(element) = xml::find_disk_element(&live, target) else {
            return Ok(());
        };
        let mut flags = Self::affect(&dom, name)?;
        // A repeated request (the guest had not released the disk last time) finds it gone
        // from the persistent definition already; libvirt refuses to remove it twice there.
        let persistent = dom
            .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
            .map_err(|e| map(&e, name))?;
        if xml::find_disk_element(&persistent, target).is_none() {
            flags &= !sys::VIR_DOMAIN_AFFECT_CONFIG;
        }
        let sent = dom
            .detach_device_flags(&element, flags)
            .map_err(|e| map(&e, name));
        // The unplug completes only when the guest releases the device (libvirt waits a few
        // seconds for that, then returns anyway): until the disk has left the live domain,
        // QEMU still holds its image, so report it as not done; the caller asks again.
        let live = dom.xml_desc(0).map_err(|e| map(&e, name))?;
        if xml::find_disk_element(&live, target).is_none() {
            return Ok(());
        }
        sent?;
        Err(HypervisorError::Failed(format!(
            "{target} of {name}: unplug requested, the guest has not released it yet"
        )))
    }

    /// Reads the console log file, which outlives the domain (EC2 shows console output of a
    /// stopped instance): an unknown name yields its old log or nothing, not `NoDomain`.
    fn console_output(&self, name: &str, max: usize) -> Result<Vec<u8>, HypervisorError> {
        check_name(name)?;
        let path = self.cfg.console_log_path(name);
        console::tail(&path, max)
            .map_err(|e| HypervisorError::Failed(format!("{}: {e}", path.display())))
    }

    fn next_event(&self, timeout: Duration) -> Option<DomainEvent> {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        rx.recv_timeout(timeout).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_domain_states() {
        assert_eq!(map_state(sys::VIR_DOMAIN_RUNNING), DomainState::Running);
        assert_eq!(map_state(sys::VIR_DOMAIN_BLOCKED), DomainState::Running);
        assert_eq!(map_state(sys::VIR_DOMAIN_PAUSED), DomainState::Paused);
        assert_eq!(
            map_state(sys::VIR_DOMAIN_SHUTDOWN),
            DomainState::ShuttingDown
        );
        assert_eq!(map_state(sys::VIR_DOMAIN_SHUTOFF), DomainState::ShutOff);
        assert_eq!(map_state(sys::VIR_DOMAIN_CRASHED), DomainState::Crashed);
    }
}
