//! The poller resource.
//!
//! Its resource type is registered here rather than through Rustler's
//! `Resource` trait, which has no `stop` callback: the BEAM must be told to
//! drop the poller's fd from its own poll set (`ERL_NIF_SELECT_STOP`) before
//! the fd is closed, and it calls `stop` once it has. The resource holds one
//! pointer, an `Arc<Shared>`; the delivery thread of poll and select holds
//! another.
//!
//! A poller is closed by `close/1`, by the death of the process that made
//! it (`down`), or when the garbage collector frees it (`dtor`), whichever
//! comes first; every later call sees `{error, closed}`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::io;
use std::mem::{self, MaybeUninit};
use std::os::unix::io::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use kpoll::{Events, Interest, Poller};
use rustler::sys::{
    enif_alloc_resource, enif_demonitor_process, enif_get_resource, enif_init_resource_type,
    enif_make_resource, enif_monitor_process, enif_release_resource, enif_select, enif_self,
    enif_send, ErlNifEnv, ErlNifEvent, ErlNifMonitor, ErlNifPid, ErlNifResourceDown,
    ErlNifResourceDtor, ErlNifResourceFlags, ErlNifResourceStop, ErlNifResourceType,
    ErlNifResourceTypeInit, ERL_NIF_SELECT_STOP,
};
use rustler::{Env, Error, NifResult, Term};

use crate::atoms;
use crate::convert::{encode_event, Token};

static POLLER_TYPE: AtomicPtr<ErlNifResourceType> = AtomicPtr::new(ptr::null_mut());

/// What a resource points to.
pub struct Shared {
    pub state: Mutex<State>,
    /// Wakes the delivery thread when an activation comes or the poller
    /// closes.
    pub wakeup: Condvar,
    /// The poller between `ERL_NIF_SELECT_STOP` and the `stop` callback: its
    /// fd may be closed only once the BEAM has forgotten it.
    stop_hold: Mutex<Option<Arc<Poller>>>,
}

/// A poller's state, behind one lock.
pub struct State {
    /// `None` once closed. Waits hold clones, so the kernel object closes
    /// when the last of them returns.
    pub poller: Option<Arc<Poller>>,
    monitor: Option<ErlNifMonitor>,
    /// Registered fd to registration id, the u64 token the core sees.
    fds: HashMap<RawFd, u64>,
    /// Registration id to the caller's token.
    tokens: HashMap<u64, Token>,
    next_id: u64,
    /// The poller's fd is in the BEAM's poll set (until `stop`).
    pub selected: bool,
    /// An `enif_select` is armed and has not fired yet.
    pub armed: bool,
    /// The process that turns the BEAM's select messages into events.
    pub relay: Option<ErlNifPid>,
    /// Processes waiting for `{kpoll, Poller, Events}`, one entry per
    /// `activate/1` call.
    pub pending: Vec<ErlNifPid>,
    /// The delivery thread of poll and select runs.
    pub thread: bool,
    /// The delivery thread holds a reference to the resource while
    /// activations are pending, to name it in their messages.
    pub kept: bool,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves no broken invariant here
        // worth crashing the VM for: take the state as it is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the poller once: forgets the registrations, wakes any wait
    /// and the delivery thread, takes the fd out of the BEAM's poll set and
    /// tells the relay to stop. `env` is the calling NIF's or callback's.
    ///
    /// # Safety
    ///
    /// `obj` must be this resource's object; `closer` must say truthfully
    /// where the call comes from.
    pub unsafe fn close(&self, env: *mut ErlNifEnv, obj: *mut c_void, closer: Closer) {
        let (poller, monitor, selected, relay, tokens) = {
            let mut state = self.lock();
            let Some(poller) = state.poller.take() else {
                return;
            };
            state.fds.clear();
            state.armed = false;
            (
                poller,
                state.monitor.take(),
                state.selected,
                state.relay.take(),
                mem::take(&mut state.tokens),
            )
        };
        drop(tokens);
        self.wakeup.notify_all();

        // End a wait in progress now rather than at the end of its slice.
        let _ = poller.wake();

        if let (Closer::Call, Some(monitor)) = (closer, monitor) {
            // SAFETY: obj is a live resource and monitor was made on it.
            unsafe { enif_demonitor_process(env, obj, &monitor) };
        }

        if selected && closer == Closer::Dtor {
            // The BEAM keeps a selected resource alive until `stop`, so this
            // cannot happen; if it did, leaking the fd beats closing one the
            // BEAM still polls.
            mem::forget(poller);
        } else if selected {
            let fd = poller.as_raw_fd().unwrap_or(-1);
            *self.hold() = Some(poller);
            // SAFETY: obj is a live resource whose type has a stop callback,
            // and fd is the one it selected; `stop` drops the held poller.
            unsafe {
                enif_select(
                    env,
                    fd as ErlNifEvent,
                    ERL_NIF_SELECT_STOP,
                    obj,
                    ptr::null(),
                    atoms::undefined().as_c_arg(),
                )
            };
        } else {
            drop(poller);
        }

        if let Some(relay) = relay {
            let env = if rustler::thread::is_scheduler_thread() {
                env
            } else {
                ptr::null_mut()
            };
            // SAFETY: env is the caller's (or NULL off the schedulers); an
            // atom needs no message environment.
            unsafe { enif_send(env, &relay, ptr::null_mut(), atoms::relay_stop().as_c_arg()) };
        }
    }

    fn hold(&self) -> MutexGuard<'_, Option<Arc<Poller>>> {
        self.stop_hold
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Who closes a poller.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    /// `close/1`: the owner's monitor is removed.
    Call,
    /// The owner died.
    Down,
    /// The garbage collector freed the resource.
    Dtor,
}

impl State {
    pub fn register(&mut self, fd: RawFd, interest: Interest, token: Token) -> io::Result<()> {
        let poller = self.poller.as_ref().ok_or_else(closed)?;
        let id = self.next_id;
        poller.register(fd, interest, id)?;

        // The core accepted the fd, so any entry left for it is stale: an
        // fd closed while registered and then reused.
        self.next_id += 1;
        if let Some(old) = self.fds.insert(fd, id) {
            self.tokens.remove(&old);
        }
        self.tokens.insert(id, token);
        Ok(())
    }

    pub fn modify(&mut self, fd: RawFd, interest: Interest, token: Token) -> io::Result<()> {
        let poller = self.poller.as_ref().ok_or_else(closed)?;
        let Some(&id) = self.fds.get(&fd) else {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        };
        poller.modify(fd, interest, id)?;
        self.tokens.insert(id, token);
        Ok(())
    }

    pub fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let poller = self.poller.as_ref().ok_or_else(closed)?;
        let result = poller.deregister(fd);

        // Ok, or ENOENT: either way the core no longer knows the fd.
        let gone = match &result {
            Ok(()) => true,
            Err(err) => err.raw_os_error() == Some(libc::ENOENT),
        };
        if gone {
            if let Some(id) = self.fds.remove(&fd) {
                self.tokens.remove(&id);
            }
        }
        result
    }

    /// The events as `{Fd, Token, Flags}` terms, skipping any whose
    /// registration was dropped while the wait ran.
    pub fn encode_events<'a>(&self, env: Env<'a>, events: &Events) -> Vec<Term<'a>> {
        events
            .iter()
            .filter_map(|event| {
                let token = self.tokens.get(&event.token())?;
                Some(encode_event(env, event, token))
            })
            .collect()
    }
}

/// A stand-in error for a closed poller; callers check for closure first.
fn closed() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

/// A resource argument of a NIF call.
pub struct Handle {
    obj: *mut c_void,
    pub shared: Arc<Shared>,
}

impl Handle {
    /// The poller a term names; `badarg` for any other term.
    pub fn get(term: Term<'_>) -> NifResult<Handle> {
        let ty = POLLER_TYPE.load(Ordering::Acquire);
        let mut obj: *const c_void = ptr::null();
        // SAFETY: ty is the type opened at load; obj is written on success.
        let found =
            unsafe { enif_get_resource(term.get_env().as_c_arg(), term.as_c_arg(), ty, &mut obj) };
        if found == 0 || ty.is_null() {
            return Err(Error::BadArg);
        }
        // SAFETY: the term keeps the resource alive during this call, and
        // its payload is the Arc pointer `create` wrote.
        let shared = unsafe { clone_shared(obj.cast_mut()) };
        Ok(Handle {
            obj: obj.cast_mut(),
            shared,
        })
    }

    pub fn obj(&self) -> *mut c_void {
        self.obj
    }
}

/// Wraps `poller` in a new resource owned by the calling process.
pub fn create(env: Env<'_>, poller: Poller) -> Term<'_> {
    let ty = POLLER_TYPE.load(Ordering::Acquire);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            poller: Some(Arc::new(poller)),
            monitor: None,
            fds: HashMap::new(),
            tokens: HashMap::new(),
            next_id: 1,
            selected: false,
            armed: false,
            relay: None,
            pending: Vec::new(),
            thread: false,
            kept: false,
        }),
        wakeup: Condvar::new(),
        stop_hold: Mutex::new(None),
    });

    // SAFETY: ty was opened at load; the payload is one pointer, written
    // unaligned since the BEAM promises no alignment for it.
    let (obj, term) = unsafe {
        let obj = enif_alloc_resource(ty, mem::size_of::<*const Shared>());
        ptr::write_unaligned(obj.cast::<*const Shared>(), Arc::into_raw(shared.clone()));
        let term = Term::new(env, enif_make_resource(env.as_c_arg(), obj));
        enif_release_resource(obj);
        (obj, term)
    };

    // The owner is the caller: its death closes the poller.
    let mut monitor = MaybeUninit::<ErlNifMonitor>::uninit();
    let mut pid = MaybeUninit::<ErlNifPid>::uninit();
    // SAFETY: env is a process-bound NIF env, so enif_self fills pid; obj is
    // a live resource whose type has a down callback.
    let monitored = unsafe {
        enif_self(env.as_c_arg(), pid.as_mut_ptr());
        enif_monitor_process(env.as_c_arg(), obj, pid.as_ptr(), monitor.as_mut_ptr()) == 0
    };
    if monitored {
        // SAFETY: enif_monitor_process returned 0, so monitor is written.
        shared.lock().monitor = Some(unsafe { monitor.assume_init() });
    }
    term
}

/// The resource term of `obj`, for a message built in another env.
///
/// # Safety
///
/// `obj` must be a live poller resource.
pub unsafe fn make_term(env: Env<'_>, obj: *mut c_void) -> Term<'_> {
    // SAFETY: per this function's contract.
    unsafe { Term::new(env, enif_make_resource(env.as_c_arg(), obj)) }
}

/// Opens the resource type; called once, from the NIF's `load`.
pub fn open_type(env: Env<'_>) -> bool {
    let init = ErlNifResourceTypeInit {
        dtor: poller_dtor as *const ErlNifResourceDtor,
        stop: poller_stop as *const ErlNifResourceStop,
        down: poller_down as *const ErlNifResourceDown,
        members: 3,
        dyncall: ptr::null(),
    };
    let mut tried = MaybeUninit::uninit();
    // SAFETY: env is the load env; the name is NUL-terminated and init lives
    // through the call, which copies it.
    let ty = unsafe {
        enif_init_resource_type(
            env.as_c_arg(),
            c"kpoll_poller".as_ptr(),
            &init,
            ErlNifResourceFlags::ERL_NIF_RT_CREATE,
            tried.as_mut_ptr(),
        )
    };
    POLLER_TYPE.store(ty.cast_mut(), Ordering::Release);
    !ty.is_null()
}

/// A new reference to the `Shared` a resource points to.
///
/// # Safety
///
/// `obj` must be a live poller resource.
unsafe fn clone_shared(obj: *mut c_void) -> Arc<Shared> {
    // SAFETY: the payload is a pointer from Arc::into_raw, and the resource
    // still owns that reference.
    unsafe {
        let raw = ptr::read_unaligned(obj.cast::<*const Shared>());
        Arc::increment_strong_count(raw);
        Arc::from_raw(raw)
    }
}

/// The `dtor` callback: the garbage collector freed the resource.
///
/// # Safety
///
/// Called by the BEAM only, once, with a resource of this type.
unsafe extern "C" fn poller_dtor(env: *mut ErlNifEnv, obj: *mut c_void) {
    // SAFETY: the BEAM calls this once, last, for a resource of this type;
    // taking the Arc back releases the resource's reference.
    let shared = unsafe { Arc::from_raw(ptr::read_unaligned(obj.cast::<*const Shared>())) };
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: obj is the resource being freed; the closer says so.
        unsafe { shared.close(env, obj, Closer::Dtor) };
    }));
}

/// The `stop` callback: the BEAM has forgotten the poller's fd, which may
/// now close.
///
/// # Safety
///
/// Called by the BEAM only, with a live resource of this type.
unsafe extern "C" fn poller_stop(
    _env: *mut ErlNifEnv,
    obj: *mut c_void,
    _event: ErlNifEvent,
    _is_direct_call: i32,
) {
    // SAFETY: the BEAM keeps a selected resource alive through `stop`.
    let shared = unsafe { clone_shared(obj) };
    let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(shared.hold().take())));
}

/// The `down` callback: the owner exited.
///
/// # Safety
///
/// Called by the BEAM only, with a live resource of this type.
unsafe extern "C" fn poller_down(
    env: *mut ErlNifEnv,
    obj: *mut c_void,
    _pid: *const ErlNifPid,
    _monitor: *const ErlNifMonitor,
) {
    // SAFETY: the BEAM calls down on a live resource.
    let shared = unsafe { clone_shared(obj) };
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: obj is live and this is its down callback.
        unsafe { shared.close(env, obj, Closer::Down) };
    }));
}
