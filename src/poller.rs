//! The public poller: the backend choice, and what every backend shares (one
//! waiter at a time, `EINTR` retried with the time that remains, the fork
//! guard, the statistics).

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use crate::backend::{self, errno, Selector};
use crate::event::Sink;
use crate::{Event, Events, Interest};

/// A readiness interface of the kernel, or `Auto` for the best one this OS
/// has.
///
/// The values are those of the C header (`KPOLL_BACKEND_*`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The OS's kernel poll (epoll, kqueue or /dev/poll), unless the
    /// `KPOLL_BACKEND` environment variable names another.
    Auto = 0,
    /// Linux's epoll.
    Epoll = 1,
    /// kqueue, on macOS, FreeBSD, OpenBSD, NetBSD and DragonFly.
    Kqueue = 2,
    /// `/dev/poll`, on Solaris and illumos.
    Devpoll = 3,
    /// `poll(2)`, on every Unix.
    Poll = 4,
    /// `select(2)`, on every Unix, with fd sets that grow past `FD_SETSIZE`.
    Select = 5,
}

const ALL: [Backend; 6] = [
    Backend::Auto,
    Backend::Epoll,
    Backend::Kqueue,
    Backend::Devpoll,
    Backend::Poll,
    Backend::Select,
];

impl Backend {
    /// The backend with this C value, if any.
    pub const fn from_raw(raw: u32) -> Option<Backend> {
        if (raw as usize) < ALL.len() {
            Some(ALL[raw as usize])
        } else {
            None
        }
    }

    /// The backend with this name (`"auto"`, `"epoll"`, `"kqueue"`,
    /// `"devpoll"`, `"poll"`, `"select"`), if any.
    pub fn from_name(name: &str) -> Option<Backend> {
        ALL.into_iter().find(|backend| backend.name() == name)
    }

    /// The backend's name.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Epoll => "epoll",
            Backend::Kqueue => "kqueue",
            Backend::Devpoll => "devpoll",
            Backend::Poll => "poll",
            Backend::Select => "select",
        }
    }

    /// Whether this OS has the backend. `Auto` always is.
    pub fn is_supported(self) -> bool {
        self == Backend::Auto || Backend::supported().contains(&self)
    }

    /// The backends this OS has, best first; the first is what `Auto` picks.
    pub fn supported() -> Vec<Backend> {
        let mut list = Vec::with_capacity(3);
        if cfg!(any(target_os = "linux", target_os = "android")) {
            list.push(Backend::Epoll);
        }
        if cfg!(any(
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "openbsd",
            target_os = "netbsd",
            target_os = "dragonfly"
        )) {
            list.push(Backend::Kqueue);
        }
        if cfg!(any(target_os = "solaris", target_os = "illumos")) {
            list.push(Backend::Devpoll);
        }
        list.push(Backend::Poll);
        list.push(Backend::Select);
        list
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a poller has done, as counted since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Fds registered now.
    pub registered: u64,
    /// Of those, how many the poll(2) fallback serves, because the kernel
    /// poll refused them (a regular file on epoll).
    pub fallback: u64,
    /// Waits that returned successfully.
    pub waits: u64,
    /// Events delivered, in all.
    pub events: u64,
    /// User wakes consumed by a wait.
    pub wakes: u64,
}

/// The process-wide settings read from the environment, once.
struct Config {
    /// What `Auto` means: the OS's best, or what `KPOLL_BACKEND` names
    /// (`Err` for an unknown name).
    auto: Result<Backend, ()>,
    /// `KPOLL_WAKE=pipe` makes every wake source a pipe.
    pipe_wake: bool,
}

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let best = Backend::supported()[0];
        if is_privileged() {
            return Config {
                auto: Ok(best),
                pipe_wake: false,
            };
        }
        let auto = match std::env::var("KPOLL_BACKEND") {
            Ok(name) if name.is_empty() => Ok(best),
            Ok(name) => match Backend::from_name(&name) {
                Some(Backend::Auto) => Ok(best),
                Some(backend) => Ok(backend),
                None => Err(()),
            },
            Err(_) => Ok(best),
        };
        let pipe_wake = std::env::var("KPOLL_WAKE").is_ok_and(|v| v == "pipe");
        Config { auto, pipe_wake }
    })
}

/// Whether this process runs with privileges it did not start with
/// (set-uid or set-gid), where the environment is not to be trusted.
fn is_privileged() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: getauxval only reads the auxiliary vector.
    return unsafe { libc::getauxval(libc::AT_SECURE) } != 0;

    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    // SAFETY: issetugid takes no arguments and only reports a flag.
    return unsafe { libc::issetugid() } != 0;

    #[allow(unreachable_code)]
    // SAFETY: these take no arguments and only report ids.
    unsafe {
        libc::getuid() != libc::geteuid() || libc::getgid() != libc::getegid()
    }
}

/// Counts forks, in the child. A poller made before a fork refuses to work
/// in the child: its kernel object is shared with the parent's.
static FORKS: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

fn watch_forks() {
    static WATCHING: OnceLock<()> = OnceLock::new();
    WATCHING.get_or_init(|| {
        // SAFETY: the handler is a plain extern "C" fn that only touches an
        // atomic, which is safe in a child after fork.
        unsafe { libc::pthread_atfork(None, None, Some(count_fork_in_child)) };
    });
}

/// What every backend shares.
struct Core<S: Selector> {
    selector: S,
    waiter: Mutex<S::Waiter>,
    forks: u32,
    waits: AtomicU64,
    events: AtomicU64,
    wakes: AtomicU64,
}

impl<S: Selector> Core<S> {
    fn new() -> io::Result<Core<S>> {
        watch_forks();
        let (selector, waiter) = S::new()?;
        Ok(Core {
            selector,
            waiter: Mutex::new(waiter),
            forks: FORKS.load(Ordering::Relaxed),
            waits: AtomicU64::new(0),
            events: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
        })
    }

    /// `EPERM` in a child process after a fork.
    fn check_owner(&self) -> io::Result<()> {
        if FORKS.load(Ordering::Relaxed) == self.forks {
            Ok(())
        } else {
            Err(errno(libc::EPERM))
        }
    }

    fn check_interest(&self, interest: Interest) -> io::Result<()> {
        let unsupported = (interest.is_edge() && !S::EDGE)
            || (interest.contains(Interest::PRIORITY) && !S::PRIORITY);
        if unsupported {
            Err(errno(libc::ENOTSUP))
        } else {
            Ok(())
        }
    }

    fn register(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.check_owner()?;
        check_fd(fd)?;
        self.check_interest(interest)?;
        self.selector.register(fd, interest, token)
    }

    fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.check_owner()?;
        check_fd(fd)?;
        self.check_interest(interest)?;
        self.selector.modify(fd, interest, token)
    }

    fn deregister(&self, fd: RawFd) -> io::Result<()> {
        self.check_owner()?;
        check_fd(fd)?;
        self.selector.deregister(fd)
    }

    fn wait(&self, sink: &mut Sink<'_>, timeout: Option<Duration>) -> io::Result<usize> {
        self.check_owner()?;

        // One waiter at a time: the lock is the rule.
        let mut waiter = match self.waiter.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::WouldBlock) => return Err(errno(libc::EBUSY)),
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        };

        // The clock is read only for a positive timeout, and the time left
        // only computed when a call ends with nothing to report.
        let start = timeout.filter(|t| !t.is_zero()).map(|_| Instant::now());
        let mut timeout_ms = timeout.map_or(-1, ceil_ms);
        loop {
            match self.selector.select(&mut waiter, sink, timeout_ms) {
                Ok(woken) => {
                    if woken {
                        bump(&self.wakes, 1);
                    }
                    // A nudge, or events dropped as stale, end a call with
                    // nothing to report: wait again for the time left.
                    if woken || sink.len() > 0 || timeout_ms == 0 {
                        break;
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
            if let (Some(start), Some(timeout)) = (start, timeout) {
                timeout_ms = ceil_ms(timeout.saturating_sub(start.elapsed()));
            }
        }

        let count = sink.len();
        bump(&self.waits, 1);
        bump(&self.events, count as u64);
        Ok(count)
    }

    fn wake(&self) -> io::Result<()> {
        self.check_owner()?;
        self.selector.wake()
    }

    fn stats(&self) -> Stats {
        let (registered, fallback) = self.selector.counts();
        Stats {
            registered: registered as u64,
            fallback: fallback as u64,
            waits: self.waits.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            wakes: self.wakes.load(Ordering::Relaxed),
        }
    }
}

/// `EBADF` for a negative fd.
fn check_fd(fd: RawFd) -> io::Result<()> {
    if fd < 0 {
        Err(errno(libc::EBADF))
    } else {
        Ok(())
    }
}

/// `duration` in milliseconds for a blocking call, rounded up so that a wait
/// never ends before its time, and capped at what the call takes.
fn ceil_ms(duration: Duration) -> i32 {
    let ms = duration
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(duration.subsec_nanos().div_ceil(1_000_000)));
    i32::try_from(ms).unwrap_or(i32::MAX)
}

/// Adds to a counter that only the waiter writes (the waiter lock is held),
/// without the cost of an atomic read-modify-write.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

enum Inner {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Epoll(Core<backend::epoll::Epoll>),
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    Kqueue(Core<backend::kqueue::Kqueue>),
    #[cfg(any(target_os = "solaris", target_os = "illumos"))]
    Devpoll(Core<backend::devpoll::Devpoll>),
    Poll(Core<backend::poll::Poll>),
    Select(Core<backend::select::Select>),
}

/// Calls `$call` on the core of whichever backend `$inner` holds.
macro_rules! dispatch {
    ($inner:expr, $core:ident => $call:expr) => {
        match $inner {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Inner::Epoll($core) => $call,
            #[cfg(any(
                target_os = "macos",
                target_os = "ios",
                target_os = "freebsd",
                target_os = "openbsd",
                target_os = "netbsd",
                target_os = "dragonfly"
            ))]
            Inner::Kqueue($core) => $call,
            #[cfg(any(target_os = "solaris", target_os = "illumos"))]
            Inner::Devpoll($core) => $call,
            Inner::Poll($core) => $call,
            Inner::Select($core) => $call,
        }
    };
}

/// Something that names an fd: a [`RawFd`], or a reference to anything that
/// has one (`&UnixStream`, `&OwnedFd`, `&File`...).
///
/// The poller never owns a registered fd: closing it stays the caller's job.
pub trait Source {
    /// The fd.
    fn raw_fd(&self) -> RawFd;
}

impl Source for RawFd {
    fn raw_fd(&self) -> RawFd {
        *self
    }
}

impl<T: AsRawFd + ?Sized> Source for &T {
    fn raw_fd(&self) -> RawFd {
        (**self).as_raw_fd()
    }
}

/// A set of registered fds, and the waits on them.
///
/// Every method may be called from any thread at once; only one thread may
/// be inside [`wait`](Poller::wait) at a time, a second one gets `EBUSY`.
/// Dropping the poller closes every fd it opened; the registered fds are the
/// caller's and stay open.
///
/// A poller belongs to the process that made it: in a child after `fork`,
/// every method fails with `EPERM` (the kernel object is shared with the
/// parent, so a change would corrupt the parent's set). The child makes its
/// own poller.
pub struct Poller {
    inner: Inner,
}

impl Poller {
    /// A poller on the best backend of this OS (see [`Backend::Auto`]).
    ///
    /// # Errors
    ///
    /// `EINVAL` if `KPOLL_BACKEND` names no backend, `ENOTSUP` if it names
    /// one this OS lacks, and whatever the kernel says when the poller's
    /// fds cannot be opened (`EMFILE`, `ENFILE`, `ENOMEM`).
    pub fn new() -> io::Result<Poller> {
        Poller::with_backend(Backend::Auto)
    }

    /// A poller on `backend`.
    ///
    /// # Errors
    ///
    /// As for [`Poller::new`], and `ENOTSUP` for a backend this OS lacks.
    ///
    /// # Examples
    ///
    /// ```
    /// use kpoll::{Backend, Poller};
    ///
    /// let poller = Poller::with_backend(Backend::Poll)?;
    /// assert_eq!(poller.backend(), Backend::Poll);
    /// assert!(poller.as_raw_fd().is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_backend(backend: Backend) -> io::Result<Poller> {
        let backend = match backend {
            Backend::Auto => config().auto.map_err(|()| errno(libc::EINVAL))?,
            backend => backend,
        };
        let inner = match backend {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Backend::Epoll => Inner::Epoll(Core::new()?),
            #[cfg(any(
                target_os = "macos",
                target_os = "ios",
                target_os = "freebsd",
                target_os = "openbsd",
                target_os = "netbsd",
                target_os = "dragonfly"
            ))]
            Backend::Kqueue => Inner::Kqueue(Core::new()?),
            #[cfg(any(target_os = "solaris", target_os = "illumos"))]
            Backend::Devpoll => Inner::Devpoll(Core::new()?),
            Backend::Poll => Inner::Poll(Core::new()?),
            Backend::Select => Inner::Select(Core::new()?),
            _ => return Err(errno(libc::ENOTSUP)),
        };
        Ok(Poller { inner })
    }

    /// Adds `fd` with `interest`; its events carry `token`.
    ///
    /// An empty interest registers the fd disarmed. On epoll, an fd that
    /// epoll refuses but `poll(2)` accepts (a regular file) is served by a
    /// `poll(2)` fallback, for level and oneshot interest; see
    /// [`Stats::fallback`].
    ///
    /// # Errors
    ///
    /// `EEXIST` if `fd` is registered already, `EBADF` if it is not open,
    /// `ENOTSUP` for `EDGE` on poll, select and /dev/poll, for `PRIORITY` on
    /// kqueue, and for `EDGE` on an fd the fallback serves.
    pub fn register(&self, fd: impl Source, interest: Interest, token: u64) -> io::Result<()> {
        dispatch!(&self.inner, core => core.register(fd.raw_fd(), interest, token))
    }

    /// Replaces the interest and token of `fd`, and re-arms a oneshot
    /// registration. Takes effect in a wait in progress.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    ///
    /// use kpoll::{Events, Interest, Poller};
    ///
    /// let poller = Poller::new()?;
    /// let (mut a, b) = UnixStream::pair()?;
    /// a.write_all(b"x")?;
    /// poller.register(&b, Interest::READABLE | Interest::ONESHOT, 1)?;
    ///
    /// let mut events = Events::with_capacity(8);
    /// let soon = Some(Duration::from_millis(20));
    /// assert_eq!(poller.wait(&mut events, soon)?, 1);
    /// // Disarmed: still readable, but not reported again...
    /// assert_eq!(poller.wait(&mut events, soon)?, 0);
    /// // ...until re-armed.
    /// poller.modify(&b, Interest::READABLE | Interest::ONESHOT, 2)?;
    /// assert_eq!(poller.wait(&mut events, soon)?, 1);
    /// assert_eq!(events.iter().next().unwrap().token(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `ENOENT` if `fd` is not registered, `EBADF` if the kernel finds it
    /// closed, `ENOTSUP` as for [`register`](Poller::register).
    pub fn modify(&self, fd: impl Source, interest: Interest, token: u64) -> io::Result<()> {
        dispatch!(&self.inner, core => core.modify(fd.raw_fd(), interest, token))
    }

    /// Forgets `fd`. No wait that begins after this returns reports it.
    ///
    /// An fd closed while registered is forgotten too, and this returns
    /// `Ok`; close it after deregistering where you can, as epoll keeps
    /// watching a closed fd for as long as a duplicate of it is open.
    ///
    /// # Errors
    ///
    /// `ENOENT` if `fd` is not registered.
    pub fn deregister(&self, fd: impl Source) -> io::Result<()> {
        dispatch!(&self.inner, core => core.deregister(fd.raw_fd()))
    }

    /// Waits until at least one registered fd is ready, the poller is woken,
    /// or `timeout` passes, and fills `events`. `None` waits for ever; a zero
    /// timeout never blocks. Returns the number of events, 0 after a wake or
    /// a timeout.
    ///
    /// At most one event per fd is returned, with all its readiness merged.
    /// When more fds are ready than `events` holds, the others come in the
    /// next waits: with R fds ready and capacity C, each is reported within
    /// ceil(R/C) waits. Signals do not end the wait.
    ///
    /// # Errors
    ///
    /// `EBUSY` if another thread is waiting on this poller.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        let mut sink = events.sink();
        dispatch!(&self.inner, core => core.wait(&mut sink, timeout))
    }

    /// The same wait, writing into a caller's array (the C ABI's).
    pub(crate) fn wait_into(
        &self,
        slots: &mut [MaybeUninit<Event>],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let mut len = 0;
        let mut sink = Sink::new(slots, &mut len);
        dispatch!(&self.inner, core => core.wait(&mut sink, timeout))
    }

    /// Makes the wait in progress return, or the next one if none is in
    /// progress. Wakes made before a wait collapse into one. Safe to call
    /// from a signal handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// use kpoll::{Events, Poller};
    ///
    /// let poller = Arc::new(Poller::new()?);
    /// let waker = Arc::clone(&poller);
    /// let thread = thread::spawn(move || waker.wake());
    ///
    /// // Waits for ever, until the other thread's wake: no event.
    /// let mut events = Events::with_capacity(8);
    /// assert_eq!(poller.wait(&mut events, None)?, 0);
    /// thread.join().unwrap()?;
    /// assert_eq!(poller.stats().wakes, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only what the kernel says of a write to the wake source, which does
    /// not happen in practice.
    pub fn wake(&self) -> io::Result<()> {
        dispatch!(&self.inner, core => core.wake())
    }

    /// An fd that is readable whenever [`wait`](Poller::wait) would report an
    /// event, to nest this poller in another event loop: the epoll, kqueue or
    /// /dev/poll fd. poll and select have none. The poller owns the fd.
    pub fn as_raw_fd(&self) -> Option<RawFd> {
        dispatch!(&self.inner, core => core.selector.pollable_fd())
    }

    /// The backend in use (never `Auto`).
    pub fn backend(&self) -> Backend {
        fn of<S: Selector>(_: &Core<S>) -> Backend {
            S::BACKEND
        }
        dispatch!(&self.inner, core => of(core))
    }

    /// What this poller has done so far.
    pub fn stats(&self) -> Stats {
        dispatch!(&self.inner, core => core.stats())
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("backend", &self.backend())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// Whether wake sources must be pipes (`KPOLL_WAKE=pipe`).
pub(crate) fn pipe_wake() -> bool {
    config().pipe_wake
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_and_values_round_trip() {
        for (raw, backend) in ALL.iter().enumerate() {
            assert_eq!(Backend::from_raw(raw as u32), Some(*backend));
            assert_eq!(Backend::from_name(backend.name()), Some(*backend));
        }
        assert_eq!(Backend::from_raw(6), None);
        assert_eq!(Backend::from_name("iocp"), None);
    }

    #[test]
    fn timeouts_round_up_and_saturate() {
        assert_eq!(ceil_ms(Duration::ZERO), 0);
        assert_eq!(ceil_ms(Duration::from_micros(1)), 1);
        assert_eq!(ceil_ms(Duration::from_micros(1000)), 1);
        assert_eq!(ceil_ms(Duration::from_micros(1001)), 2);
        assert_eq!(ceil_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ceil_ms(Duration::from_secs(3_000_000)), i32::MAX);
        assert_eq!(ceil_ms(Duration::MAX), i32::MAX);
    }
}
