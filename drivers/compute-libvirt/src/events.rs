//! libvirt domain lifecycle events, delivered to [`crate::LibvirtHypervisor::next_event`].
//!
//! libvirt only dispatches events from an event loop that was registered *before* the
//! connection was opened and that some thread keeps running: [`ensure_event_loop`] registers
//! libvirt's default implementation once per process and runs it on a dedicated thread for the
//! process's lifetime (each iteration blocks in libvirt's poll; the thread owns nothing else).
//! The `virt` crate has no safe wrapper for `virConnectDomainEventRegisterAny`, hence the FFI
//! here, kept to this file.
//!
//! The callback runs on the event-loop thread and must not block it: events go into a bounded
//! channel with `try_send`; when nobody drains it, further events are dropped (the reconciler
//! also polls [`kumo_driver_api::Hypervisor::state`], so a lost event delays, never loses, a
//! convergence).
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::{c_int, c_void};
use std::sync::OnceLock;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use kumo_driver_api::{DomainEvent, DomainState, HypervisorError};
use virt::connect::Connect;
use virt::sys;

/// How many undelivered events the channel holds.
pub(crate) const EVENT_QUEUE: usize = 4096;

static EVENT_LOOP: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers libvirt's default event loop (once per process) and starts its thread.
/// Must run before the first `Connect::open` whose events we want.
pub fn ensure_event_loop() -> Result<(), HypervisorError> {
    EVENT_LOOP
        .get_or_init(|| {
            virt::event::event_register_default_impl().map_err(|e| e.to_string())?;
            std::thread::Builder::new()
                .name("libvirt-events".into())
                .spawn(|| {
                    loop {
                        if virt::event::event_run_default_impl().is_err() {
                            // Not expected; don't spin if it ever happens.
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
            Ok(())
        })
        .clone()
        .map_err(HypervisorError::Unavailable)
}

/// Maps a libvirt lifecycle event (type, detail) to the state after it and a reason in
/// libvirt's words. `None` for events that do not change whether the guest runs
/// (defined, undefined).
pub(crate) fn map_lifecycle(event: u32, detail: u32) -> Option<(DomainState, &'static str)> {
    let mapped = match event {
        sys::VIR_DOMAIN_EVENT_STARTED => (
            DomainState::Running,
            match detail {
                sys::VIR_DOMAIN_EVENT_STARTED_BOOTED => "booted",
                sys::VIR_DOMAIN_EVENT_STARTED_MIGRATED => "migrated",
                sys::VIR_DOMAIN_EVENT_STARTED_RESTORED => "restored",
                sys::VIR_DOMAIN_EVENT_STARTED_WAKEUP => "wakeup",
                _ => "started",
            },
        ),
        sys::VIR_DOMAIN_EVENT_SUSPENDED => (
            DomainState::Paused,
            match detail {
                sys::VIR_DOMAIN_EVENT_SUSPENDED_IOERROR => "ioerror",
                sys::VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG => "watchdog",
                _ => "paused",
            },
        ),
        sys::VIR_DOMAIN_EVENT_RESUMED => (DomainState::Running, "resumed"),
        sys::VIR_DOMAIN_EVENT_STOPPED => (
            DomainState::ShutOff,
            match detail {
                sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN => "shutdown",
                sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED => "destroyed",
                sys::VIR_DOMAIN_EVENT_STOPPED_CRASHED => "crashed",
                sys::VIR_DOMAIN_EVENT_STOPPED_MIGRATED => "migrated",
                sys::VIR_DOMAIN_EVENT_STOPPED_SAVED => "saved",
                sys::VIR_DOMAIN_EVENT_STOPPED_FAILED => "failed",
                _ => "stopped",
            },
        ),
        sys::VIR_DOMAIN_EVENT_SHUTDOWN => (DomainState::ShuttingDown, "shutdown"),
        sys::VIR_DOMAIN_EVENT_PMSUSPENDED => (DomainState::Paused, "pmsuspended"),
        sys::VIR_DOMAIN_EVENT_CRASHED => (DomainState::Crashed, "crashed"),
        _ => return None,
    };
    Some(mapped)
}

/// A live lifecycle-event registration on one connection; deregisters on drop.
pub(crate) struct Registration {
    conn: Connect,
    id: c_int,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .finish()
    }
}

/// The C signature libvirt calls for `VIR_DOMAIN_EVENT_ID_LIFECYCLE`.
type LifecycleCallback =
    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int;

unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: `opaque` is the `Box<SyncSender<DomainEvent>>` leaked in `register`; libvirt keeps
    // it alive until it calls `free_sender`, which happens after the last callback.
    let tx = unsafe { &*(opaque as *const SyncSender<DomainEvent>) };
    // SAFETY: libvirt passes a valid domain for the duration of the callback; the name it
    // returns is owned by the domain and copied before we return.
    let name_ptr = unsafe { sys::virDomainGetName(dom) };
    if name_ptr.is_null() {
        return 0;
    }
    // SAFETY: non-null, NUL-terminated string owned by `dom` (see above).
    let name = unsafe { CStr::from_ptr(name_ptr) }
        .to_string_lossy()
        .into_owned();
    if let Some((state, reason)) = map_lifecycle(event as u32, detail as u32) {
        let _ = tx.try_send(DomainEvent {
            name,
            state,
            reason: reason.to_string(),
        });
    }
    0
}

unsafe extern "C" fn free_sender(opaque: *mut c_void) {
    // SAFETY: `opaque` came from `Box::into_raw` in `register`, and libvirt calls this once.
    drop(unsafe { Box::from_raw(opaque as *mut SyncSender<DomainEvent>) });
}

/// Registers for lifecycle events of every domain on `conn`, sending them to `tx`.
pub(crate) fn register(
    conn: &Connect,
    tx: SyncSender<DomainEvent>,
) -> Result<Registration, HypervisorError> {
    let opaque = Box::into_raw(Box::new(tx)) as *mut c_void;
    let cb: LifecycleCallback = on_lifecycle;
    // SAFETY: libvirt's C API takes every event callback as the generic type and calls it with
    // the signature of the event id (C code does the same cast through VIR_DOMAIN_EVENT_CALLBACK).
    let generic: unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void) =
        unsafe { std::mem::transmute::<LifecycleCallback, _>(cb) };
    // SAFETY: the connection pointer is valid while `conn` lives; `opaque` is freed by libvirt
    // through `free_sender` (or by us below if registration fails).
    let id = unsafe {
        sys::virConnectDomainEventRegisterAny(
            conn.as_ptr(),
            std::ptr::null_mut(),
            sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
            Some(generic),
            opaque,
            Some(free_sender),
        )
    };
    if id < 0 {
        // SAFETY: registration failed, so libvirt did not take ownership of `opaque`.
        drop(unsafe { Box::from_raw(opaque as *mut SyncSender<DomainEvent>) });
        return Err(HypervisorError::Failed(format!(
            "registering for domain events: {}",
            virt::error::Error::last_error().message()
        )));
    }
    Ok(Registration {
        conn: conn.clone(),
        id,
    })
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: `id` was returned by a successful registration on this connection.
        let _ = unsafe { sys::virConnectDomainEventDeregisterAny(self.conn.as_ptr(), self.id) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lifecycle_events() {
        assert_eq!(
            map_lifecycle(
                sys::VIR_DOMAIN_EVENT_STARTED,
                sys::VIR_DOMAIN_EVENT_STARTED_BOOTED
            ),
            Some((DomainState::Running, "booted"))
        );
        assert_eq!(
            map_lifecycle(
                sys::VIR_DOMAIN_EVENT_STOPPED,
                sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED
            ),
            Some((DomainState::ShutOff, "destroyed"))
        );
        assert_eq!(
            map_lifecycle(
                sys::VIR_DOMAIN_EVENT_STOPPED,
                sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN
            ),
            Some((DomainState::ShutOff, "shutdown"))
        );
        assert_eq!(
            map_lifecycle(sys::VIR_DOMAIN_EVENT_CRASHED, 0),
            Some((DomainState::Crashed, "crashed"))
        );
        assert_eq!(map_lifecycle(sys::VIR_DOMAIN_EVENT_DEFINED, 0), None);
        assert_eq!(map_lifecycle(sys::VIR_DOMAIN_EVENT_UNDEFINED, 0), None);
    }
}
