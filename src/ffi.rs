//! The C ABI, version 0: the functions, types and constants of
//! `include/kpoll.h`, each a thin layer over the Rust API.
//!
//! Conventions, the same for every function: 0 or a count on success, a
//! negative errno value from `<errno.h>` on failure. A NULL pointer or an
//! unknown bit or value is `-EINVAL`; a negative fd is `-EBADF`. No panic
//! crosses the boundary: every body runs inside [`boundary`], and a caught
//! panic returns `-ENOTRECOVERABLE`. Errors become negative errno values in
//! one place, [`negative_errno`].
//!
//! The header is generated from this file alone by cbindgen (see
//! `cbindgen.toml`), so every item here is written for C readers too.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, CStr, CString};
use std::io;
use std::mem::{align_of, size_of, MaybeUninit};
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Duration;

use crate::{Backend, Event, Interest, Poller, Readiness};

/// A poller: the set of registered fds and the kernel object that watches
/// them. Opaque; made by `kpoll_new`, released by `kpoll_free`.
pub struct kpoll {
    poller: Poller,
}

/// Which kernel interface a poller drives: one of the `KPOLL_BACKEND_*`
/// values.
pub type kpoll_backend = u32;

/// The best kernel poll of this OS, or the one named by the environment
/// variable `KPOLL_BACKEND` (ignored in set-uid programs).
pub const KPOLL_BACKEND_AUTO: kpoll_backend = 0;
/// Linux epoll.
pub const KPOLL_BACKEND_EPOLL: kpoll_backend = 1;
/// kqueue (macOS, the BSDs).
pub const KPOLL_BACKEND_KQUEUE: kpoll_backend = 2;
/// `/dev/poll` (Solaris, illumos).
pub const KPOLL_BACKEND_DEVPOLL: kpoll_backend = 3;
/// poll(2), everywhere.
pub const KPOLL_BACKEND_POLL: kpoll_backend = 4;
/// select(2), everywhere; fds at and above `FD_SETSIZE` work too.
pub const KPOLL_BACKEND_SELECT: kpoll_backend = 5;

/// Interest and readiness: data can be read, or the peer closed its end.
pub const KPOLL_READABLE: u32 = 0x01;
/// Interest and readiness: data can be written.
pub const KPOLL_WRITABLE: u32 = 0x02;
/// Interest and readiness: urgent data (`POLLPRI`); `-ENOTSUP` where absent.
pub const KPOLL_PRIORITY: u32 = 0x04;
/// Readiness only: an error is pending on the fd, or it was closed while
/// registered (poll, select).
pub const KPOLL_ERROR: u32 = 0x08;
/// Readiness only: the fd was hung up. select reports it readable instead.
pub const KPOLL_HANGUP: u32 = 0x10;
/// Mode, OR-ed into interest: report at most once, then disarm until the
/// next `kpoll_modify`.
pub const KPOLL_ONESHOT: u32 = 0x100;
/// Mode, OR-ed into interest: report when the condition becomes true. epoll
/// and kqueue only; `-ENOTSUP` elsewhere.
pub const KPOLL_EDGE: u32 = 0x200;

/// The major version of the library; the shared library's soname is
/// `libkpoll.so.<MAJOR>`.
pub const KPOLL_VERSION_MAJOR: u32 = 0;
/// The minor version of the library.
pub const KPOLL_VERSION_MINOR: u32 = 1;
/// The patch version of the library.
pub const KPOLL_VERSION_PATCH: u32 = 0;

// The header's constants are literals, since cbindgen cannot evaluate
// expressions; these checks keep them equal to the Rust API and Cargo.toml.
const _: () = {
    assert!(KPOLL_BACKEND_AUTO == Backend::Auto as u32);
    assert!(KPOLL_BACKEND_EPOLL == Backend::Epoll as u32);
    assert!(KPOLL_BACKEND_KQUEUE == Backend::Kqueue as u32);
    assert!(KPOLL_BACKEND_DEVPOLL == Backend::Devpoll as u32);
    assert!(KPOLL_BACKEND_POLL == Backend::Poll as u32);
    assert!(KPOLL_BACKEND_SELECT == Backend::Select as u32);
    assert!(KPOLL_READABLE == Interest::READABLE.bits());
    assert!(KPOLL_WRITABLE == Interest::WRITABLE.bits());
    assert!(KPOLL_PRIORITY == Interest::PRIORITY.bits());
    assert!(KPOLL_ONESHOT == Interest::ONESHOT.bits());
    assert!(KPOLL_EDGE == Interest::EDGE.bits());
    assert!(KPOLL_READABLE == Readiness::READABLE.bits());
    assert!(KPOLL_WRITABLE == Readiness::WRITABLE.bits());
    assert!(KPOLL_PRIORITY == Readiness::PRIORITY.bits());
    assert!(KPOLL_ERROR == Readiness::ERROR.bits());
    assert!(KPOLL_HANGUP == Readiness::HANGUP.bits());
    assert!(KPOLL_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
    assert!(KPOLL_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
    assert!(KPOLL_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")));
};

/// Parses a decimal version component at compile time.
const fn parse_u32(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "version is not decimal");
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// One ready fd, as `kpoll_wait` writes it (16 bytes).
#[repr(C)]
pub struct kpoll_event {
    /// The token given at `kpoll_register` or the last `kpoll_modify`.
    pub token: u64,
    /// The fd that is ready.
    pub fd: i32,
    /// What it is ready for: `KPOLL_READABLE`, `KPOLL_WRITABLE`,
    /// `KPOLL_PRIORITY`, `KPOLL_ERROR`, `KPOLL_HANGUP`, merged.
    pub events: u32,
}

// `kpoll_wait` hands the caller's array to the core as `Event` slots, so the
// two types must agree; both are `repr(C)` with the fields u64, i32, u32 in
// this order (the field order is checked by a test below).
const _: () = {
    assert!(size_of::<kpoll_event>() == 16);
    assert!(size_of::<kpoll_event>() == size_of::<Event>());
    assert!(align_of::<kpoll_event>() == align_of::<Event>());
};

/// What a poller has done since it was made.
#[repr(C)]
pub struct kpoll_stats {
    /// fds registered now.
    pub registered: u64,
    /// Of those, the ones served by the poll(2) fallback (files the kernel
    /// poll refuses).
    pub fallback: u64,
    /// `kpoll_wait` calls that returned >= 0.
    pub waits: u64,
    /// Events delivered, in all.
    pub events: u64,
    /// Wake-ups consumed.
    pub wakes: u64,
}

/// Runs one C entry point's body; a panic becomes `on_panic`.
fn boundary<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Runs a body that returns a count or an error, as C wants it: the count,
/// or a negative errno value.
fn call(body: impl FnOnce() -> io::Result<c_int>) -> c_int {
    boundary(-libc::ENOTRECOVERABLE, || match body() {
        Ok(n) => n,
        Err(e) => negative_errno(&e),
    })
}

/// The one place an error becomes a negative errno value. The core's errors
/// always carry an OS errno; anything else is reported as `-EIO`.
fn negative_errno(error: &io::Error) -> c_int {
    match error.raw_os_error() {
        Some(errno) if errno > 0 => -errno,
        _ => -libc::EIO,
    }
}

fn invalid() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// The poller behind a C pointer, or `EINVAL` for NULL.
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
unsafe fn poller_ref<'a>(poller: *const kpoll) -> io::Result<&'a Poller> {
    // SAFETY: the caller passes NULL or a live pointer from `kpoll_new`.
    match unsafe { poller.as_ref() } {
        Some(handle) => Ok(&handle.poller),
        None => Err(invalid()),
    }
}

/// A C fd for `register`, `modify` and `deregister`: negative is `EBADF`.
fn checked_fd(fd: c_int) -> io::Result<RawFd> {
    if fd < 0 {
        Err(io::Error::from_raw_os_error(libc::EBADF))
    } else {
        Ok(fd)
    }
}

/// C interest bits, or `EINVAL` if any is unknown.
fn checked_interest(bits: u32) -> io::Result<Interest> {
    Interest::from_bits(bits).ok_or_else(invalid)
}

/// Makes a poller for `backend` and stores it in `*out`.
///
/// Returns 0, or `-EINVAL` (`out` is NULL, `backend` is unknown, or
/// `KPOLL_BACKEND` names no backend), `-ENOTSUP` (this OS lacks the
/// backend), `-EMFILE`, `-ENFILE` or `-ENOMEM`. On failure `*out` is set to
/// NULL when `out` is not NULL.
///
/// # Safety
///
/// `out` is NULL or points to writable storage for one pointer.
#[no_mangle]
pub unsafe extern "C" fn kpoll_new(backend: kpoll_backend, out: *mut *mut kpoll) -> c_int {
    call(|| {
        if out.is_null() {
            return Err(invalid());
        }
        // SAFETY: `out` is not NULL and the caller made it writable.
        unsafe { out.write(std::ptr::null_mut()) };

        let backend = Backend::from_raw(backend).ok_or_else(invalid)?;
        let poller = Poller::with_backend(backend)?;
        let handle = Box::into_raw(Box::new(kpoll { poller }));

        // SAFETY: as above.
        unsafe { out.write(handle) };
        Ok(0)
    })
}

/// Closes a poller and releases everything it holds; registered fds stay
/// open. NULL is a no-op. No other call on this poller may run at the same
/// time or follow.
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn kpoll_free(poller: *mut kpoll) {
    boundary((), || {
        if !poller.is_null() {
            // SAFETY: `poller` came from `Box::into_raw` in `kpoll_new` and
            // the caller gives up its last use of it here.
            drop(unsafe { Box::from_raw(poller) });
        }
    })
}

/// Registers `fd` with `interest` (`KPOLL_READABLE`, `KPOLL_WRITABLE`,
/// `KPOLL_PRIORITY`, optionally with `KPOLL_ONESHOT` or `KPOLL_EDGE`; 0
/// registers it disarmed). Events for it carry `token`.
///
/// Returns 0, or `-EINVAL` (NULL poller, unknown interest bit), `-EBADF`
/// (negative or unopened fd), `-EEXIST` (already registered), `-ENOTSUP`
/// (`KPOLL_EDGE` on poll, select, /dev/poll; `KPOLL_PRIORITY` on kqueue),
/// `-EPERM` (a poller of the parent process, used after `fork`), `-ENOMEM`,
/// or what the kernel poll says of the fd (`-ELOOP` for a poller's own
/// `kpoll_fd` nested in a cycle, `-ENOSPC` past epoll's `max_user_watches`).
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn kpoll_register(
    poller: *mut kpoll,
    fd: c_int,
    interest: u32,
    token: u64,
) -> c_int {
    call(|| {
        // SAFETY: the caller's contract is that of `poller_ref`.
        let poller = unsafe { poller_ref(poller) }?;
        let fd = checked_fd(fd)?;
        let interest = checked_interest(interest)?;
        poller.register(fd, interest, token)?;
        Ok(0)
    })
}

/// Replaces the interest and token of a registered fd; re-arms a oneshot
/// registration.
///
/// Returns 0, or the errors of `kpoll_register`, with `-ENOENT` for an fd
/// that is not registered instead of `-EEXIST`.
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn kpoll_modify(
    poller: *mut kpoll,
    fd: c_int,
    interest: u32,
    token: u64,
) -> c_int {
    call(|| {
        // SAFETY: the caller's contract is that of `poller_ref`.
        let poller = unsafe { poller_ref(poller) }?;
        let fd = checked_fd(fd)?;
        let interest = checked_interest(interest)?;
        poller.modify(fd, interest, token)?;
        Ok(0)
    })
}

/// Forgets a registered fd. No wait that begins after this returns reports
/// it. An fd closed while registered is forgotten too, with 0.
///
/// Returns 0, or `-EINVAL` (NULL poller), `-EBADF` (negative fd), `-ENOENT`
/// (not registered), `-EPERM` (used after `fork`).
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn kpoll_deregister(poller: *mut kpoll, fd: c_int) -> c_int {
    call(|| {
        // SAFETY: the caller's contract is that of `poller_ref`.
        let poller = unsafe { poller_ref(poller) }?;
        let fd = checked_fd(fd)?;
        poller.deregister(fd)?;
        Ok(0)
    })
}

/// Waits until registered fds are ready, a wake comes, or `timeout_ms`
/// passes (-1: forever; 0: never blocks), and writes at most `capacity`
/// events to `events`, one per fd. Fds left over come first in the next
/// waits. Signals never interrupt it.
///
/// Returns the number of events (0 on timeout or wake), or `-EINVAL` (NULL
/// poller or events, capacity 0, timeout below -1), `-EBUSY` (another thread
/// is waiting on this poller), `-EPERM` (used after `fork`).
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed; `events` is
/// NULL or points to `capacity` writable `kpoll_event` slots.
#[no_mangle]
pub unsafe extern "C" fn kpoll_wait(
    poller: *mut kpoll,
    events: *mut kpoll_event,
    capacity: usize,
    timeout_ms: c_int,
) -> c_int {
    call(|| {
        // SAFETY: the caller's contract is that of `poller_ref`.
        let poller = unsafe { poller_ref(poller) }?;
        if events.is_null() || capacity == 0 {
            return Err(invalid());
        }
        let timeout = match timeout_ms {
            -1 => None,
            ms if ms >= 0 => Some(Duration::from_millis(ms as u64)),
            _ => return Err(invalid()),
        };

        // The count must fit the return value and the slice must stay below
        // isize::MAX bytes; a shorter prefix of the caller's array is fine.
        let limit = (c_int::MAX as usize).min(isize::MAX as usize / size_of::<Event>());
        let slots = events.cast::<MaybeUninit<Event>>();
        // SAFETY: the caller gives `capacity` writable slots at `events`, and
        // `kpoll_event` has the size, alignment and field layout of `Event`
        // (checked above), so they are `Event` slots; `MaybeUninit` lets the
        // core write them without reading what was there.
        let slots = unsafe { std::slice::from_raw_parts_mut(slots, capacity.min(limit)) };

        let n = poller.wait_into(slots, timeout)?;
        Ok(n as c_int)
    })
}

/// Makes the wait in progress, or the next one, return. Wakes before a
/// wait collapse into one; a wake is never an event. Async-signal-safe.
///
/// Returns 0, or `-EINVAL` (NULL poller).
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn kpoll_wake(poller: *mut kpoll) -> c_int {
    call(|| {
        // SAFETY: the caller's contract is that of `poller_ref`.
        let poller = unsafe { poller_ref(poller) }?;
        poller.wake()?;
        Ok(0)
    })
}

/// The poller's own fd, readable whenever `kpoll_wait` would report an
/// event, so that the poller can nest in another event loop. The poller owns
/// it: never close it.
///
/// Returns the fd (epoll, kqueue, /dev/poll), or `-ENOTSUP` (poll and select
/// have none), `-EINVAL` (NULL poller).
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn kpoll_fd(poller: *const kpoll) -> c_int {
    call(|| {
        // SAFETY: the caller's contract is that of `poller_ref`.
        let poller = unsafe { poller_ref(poller) }?;
        poller
            .as_raw_fd()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTSUP))
    })
}

/// The concrete backend a poller drives (never `KPOLL_BACKEND_AUTO` for a
/// poller); `KPOLL_BACKEND_AUTO` for NULL.
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed.
#[no_mangle]
pub unsafe extern "C" fn kpoll_backend_of(poller: *const kpoll) -> kpoll_backend {
    boundary(KPOLL_BACKEND_AUTO, || {
        // SAFETY: the caller's contract is that of `poller_ref`.
        match unsafe { poller_ref(poller) } {
            Ok(poller) => poller.backend() as kpoll_backend,
            Err(_) => KPOLL_BACKEND_AUTO,
        }
    })
}

/// 1 if this OS has `backend` (always for `KPOLL_BACKEND_AUTO`), 0 if not
/// or if `backend` is unknown.
#[no_mangle]
pub extern "C" fn kpoll_backend_supported(backend: kpoll_backend) -> c_int {
    boundary(0, || match Backend::from_raw(backend) {
        Some(backend) => c_int::from(backend.is_supported()),
        None => 0,
    })
}

/// The name of a backend, as `KPOLL_BACKEND` spells it: "auto", "epoll",
/// "kqueue", "devpoll", "poll", "select"; NULL if `backend` is unknown. The
/// string is static.
#[no_mangle]
pub extern "C" fn kpoll_backend_name(backend: kpoll_backend) -> *const c_char {
    boundary(std::ptr::null(), || match Backend::from_raw(backend) {
        Some(backend) => backend_cname(backend).as_ptr(),
        None => std::ptr::null(),
    })
}

/// `Backend::name`, NUL-terminated.
fn backend_cname(backend: Backend) -> &'static CStr {
    match backend {
        Backend::Auto => c"auto",
        Backend::Epoll => c"epoll",
        Backend::Kqueue => c"kqueue",
        Backend::Devpoll => c"devpoll",
        Backend::Poll => c"poll",
        Backend::Select => c"select",
    }
}

/// Copies the poller's counters to `*out`.
///
/// Returns 0, or `-EINVAL` (NULL poller or `out`).
///
/// # Safety
///
/// `poller` is NULL or came from `kpoll_new` and was not freed; `out` is
/// NULL or points to a writable `kpoll_stats`.
#[no_mangle]
pub unsafe extern "C" fn kpoll_get_stats(poller: *const kpoll, out: *mut kpoll_stats) -> c_int {
    call(|| {
        // SAFETY: the caller's contract is that of `poller_ref`.
        let poller = unsafe { poller_ref(poller) }?;
        if out.is_null() {
            return Err(invalid());
        }
        let stats = poller.stats();
        let stats = kpoll_stats {
            registered: stats.registered,
            fallback: stats.fallback,
            waits: stats.waits,
            events: stats.events,
            wakes: stats.wakes,
        };

        // SAFETY: `out` is not NULL and the caller made it writable.
        unsafe { out.write(stats) };
        Ok(0)
    })
}

/// A static, NUL-terminated text for any value these functions return: 0
/// and counts are success, a negative errno value names its error (with
/// what it means here for the errors kpoll gives itself), anything else is
/// an unknown error. Never NULL.
#[no_mangle]
pub extern "C" fn kpoll_strerror(error: c_int) -> *const c_char {
    boundary(c"unknown error".as_ptr(), || error_text(error).as_ptr())
}

/// errno values stay below this on every OS kpoll builds for (Linux's
/// highest is 133); beyond it there is no system text to give.
const ERRNO_LIMIT: u32 = 256;

fn error_text(error: c_int) -> &'static CStr {
    if error >= 0 {
        return c"success";
    }
    let errno = error.unsigned_abs();
    if errno >= ERRNO_LIMIT {
        return c"unknown error";
    }
    let errno = errno as c_int;
    kpoll_error_text(errno).unwrap_or_else(|| system_error_texts()[errno as usize].as_c_str())
}

/// The system's text for each errno value below `ERRNO_LIMIT`, made once:
/// strerror's buffer may be overwritten by the next call, and the pointers
/// handed to C must stay valid.
fn system_error_texts() -> &'static [CString] {
    static TEXTS: OnceLock<Vec<CString>> = OnceLock::new();
    TEXTS.get_or_init(|| (0..ERRNO_LIMIT as c_int).map(system_error_text).collect())
}

/// What the errors kpoll gives itself mean when a kpoll call returns them.
fn kpoll_error_text(errno: c_int) -> Option<&'static CStr> {
    let text = match errno {
        libc::EINVAL => {
            c"invalid argument: NULL pointer, unknown bit or value, or bad KPOLL_BACKEND"
        }
        libc::EBADF => c"bad file descriptor: negative or not open",
        libc::EEXIST => c"fd is already registered with this poller",
        libc::ENOENT => c"fd is not registered with this poller",
        libc::ENOTSUP => c"not supported by this backend or this OS",
        libc::EBUSY => c"another thread is already waiting on this poller",
        libc::EPERM => c"operation not permitted: a poller made before fork, used in the child",
        libc::ENOTRECOVERABLE => c"internal error in kpoll: a panic was caught",
        _ => return None,
    };
    Some(text)
}

/// The system's text for `errno`, without std's " (os error N)" suffix.
fn system_error_text(errno: i32) -> CString {
    let text = io::Error::from_raw_os_error(errno).to_string();
    let text = match text.rfind(" (os error ") {
        Some(end) => &text[..end],
        None => &text,
    };
    CString::new(text).unwrap_or_else(|_| c"unknown error".to_owned())
}

/// The library's version, `MAJOR << 16 | MINOR << 8 | PATCH`, to compare
/// with the `KPOLL_VERSION_*` macros a program was built with.
#[no_mangle]
pub extern "C" fn kpoll_version() -> u32 {
    boundary(0, || {
        KPOLL_VERSION_MAJOR << 16 | KPOLL_VERSION_MINOR << 8 | KPOLL_VERSION_PATCH
    })
}

/// The library's version as text, "MAJOR.MINOR.PATCH". The string is static.
#[no_mangle]
pub extern "C" fn kpoll_version_string() -> *const c_char {
    boundary(c"".as_ptr(), || VERSION.as_ptr())
}

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the version holds a NUL"),
    };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kpoll_event_fields_line_up_with_event() {
        let event = Event::new(
            42,
            0x1122_3344_5566_7788,
            Readiness::READABLE | Readiness::HANGUP,
        );
        let seen = (&event as *const Event).cast::<kpoll_event>();
        // SAFETY: the two types have the same size and alignment (checked at
        // compile time), and every bit pattern is valid for `kpoll_event`.
        let seen = unsafe { &*seen };
        assert_eq!(seen.token, 0x1122_3344_5566_7788);
        assert_eq!(seen.fd, 42);
        assert_eq!(seen.events, KPOLL_READABLE | KPOLL_HANGUP);
    }

    #[test]
    fn backend_names_agree_with_the_rust_api() {
        for raw in 0..=5 {
            let backend = Backend::from_raw(raw).unwrap();
            assert_eq!(backend_cname(backend).to_str().unwrap(), backend.name());
        }
        assert!(kpoll_backend_name(6).is_null());
    }

    #[test]
    fn a_panic_in_a_body_becomes_enotrecoverable() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let code = call(|| panic!("boom"));
        std::panic::set_hook(hook);
        assert_eq!(code, -libc::ENOTRECOVERABLE);
    }

    #[test]
    fn errors_without_an_errno_become_eio() {
        let error = io::Error::other("no errno");
        assert_eq!(negative_errno(&error), -libc::EIO);
    }

    #[test]
    fn strerror_covers_every_value() {
        let text = |n| error_text(n).to_str().unwrap().to_owned();
        assert_eq!(text(0), "success");
        assert_eq!(text(7), "success");
        assert!(text(-libc::EEXIST).contains("already registered"));
        assert_eq!(text(-libc::ENOMEM), "Cannot allocate memory");
        assert_eq!(text(c_int::MIN), "unknown error");
        assert_eq!(text(-4096), "unknown error");
        assert_eq!(text(-256), "unknown error");
        assert!(!text(-255).is_empty());
    }

    #[test]
    fn version_matches_cargo() {
        // SAFETY: `kpoll_version_string` returns a static NUL-terminated text.
        let text = unsafe { CStr::from_ptr(kpoll_version_string()) };
        assert_eq!(text.to_str().unwrap(), env!("CARGO_PKG_VERSION"));

        let parts: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split(['.', '-', '+'])
            .take(3)
            .map(|part| part.parse().unwrap())
            .collect();
        assert_eq!(kpoll_version(), parts[0] << 16 | parts[1] << 8 | parts[2]);
    }
}
