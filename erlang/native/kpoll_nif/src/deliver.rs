//! `activate/1`: one `{kpoll, Poller, Events}` message per call, sent when
//! events are ready.
//!
//! A poller with a pollable fd (epoll, kqueue, /dev/poll) is watched by the
//! BEAM's own poller through `enif_select`. The BEAM's select message goes
//! to a relay process of the poller's, which calls `deliver/1` to collect
//! the events without blocking and send them on. poll and select have no
//! such fd, so a thread of the NIF's own waits in slices and sends the
//! events from there.

use std::ffi::c_void;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kpoll::Events;
use rustler::env::OwnedEnv;
use rustler::sys::{
    enif_keep_resource, enif_release_resource, enif_select, enif_self, ErlNifEvent, ErlNifPid,
    ERL_NIF_SELECT_READ,
};
use rustler::{Encoder, Env, LocalPid, Term};

use crate::atoms;
use crate::resource::{self, Handle, Shared, State};

/// The longest a wait holds a dirty scheduler or the delivery thread holds
/// its poller before looking again at what changed.
pub const SLICE: Duration = Duration::from_millis(100);

/// The events one wait returns at most; the rest come in the next waits.
pub const CAPACITY: usize = 1024;

/// How long the delivery side steps back when another wait holds the
/// poller (`EBUSY`).
const BUSY_BACKOFF: Duration = Duration::from_millis(10);

/// The resource pointer, sent to the delivery thread.
struct ResourcePtr(*mut c_void);

// SAFETY: a resource object may be used from any thread while referenced;
// the thread references it (enif_keep_resource) whenever it uses it.
unsafe impl Send for ResourcePtr {}

/// Queues the caller for the next events, and arms the delivery.
pub fn activate<'a>(env: Env<'a>, handle: &Handle) -> Term<'a> {
    let mut pid = mem::MaybeUninit::<ErlNifPid>::uninit();
    // SAFETY: env is the process-bound env of this NIF call.
    let pid = unsafe {
        enif_self(env.as_c_arg(), pid.as_mut_ptr());
        pid.assume_init()
    };

    let mut state = handle.shared.lock();
    let Some(poller) = state.poller.clone() else {
        return atoms::closed_tuple(env);
    };
    match poller.as_raw_fd() {
        Some(fd) => activate_select(env, handle, &mut state, fd, pid),
        None => {
            let term = activate_thread(env, handle, &mut state, pid);
            drop(state);
            handle.shared.wakeup.notify_all();
            term
        }
    }
}

fn activate_select<'a>(
    env: Env<'a>,
    handle: &Handle,
    state: &mut State,
    fd: i32,
    pid: ErlNifPid,
) -> Term<'a> {
    // The relay is an Erlang process; kpoll:activate/1 makes one on demand,
    // and again if the last one was killed.
    // Known gap: activations pending when the relay is killed are lost.
    let relay = match state.relay {
        Some(relay) if LocalPid::from_c_arg(relay).is_alive(env) => relay,
        _ => {
            state.relay = None;
            state.armed = false;
            return atoms::no_relay().encode(env);
        }
    };

    state.pending.push(pid);
    if !state.armed && !arm(env, handle.obj(), fd, &relay) {
        state.pending.pop();
        return atoms::errno_tuple(env, libc::EINVAL);
    }
    state.selected = true;
    state.armed = true;
    atoms::ok().encode(env)
}

/// Asks the BEAM to tell `relay` once when `fd` is readable.
fn arm(env: Env<'_>, obj: *mut c_void, fd: i32, relay: &ErlNifPid) -> bool {
    // SAFETY: obj is a live poller resource whose type has a stop callback;
    // fd is its poller's fd, which stays open until that callback runs.
    let rc = unsafe {
        enif_select(
            env.as_c_arg(),
            fd as ErlNifEvent,
            ERL_NIF_SELECT_READ,
            obj,
            relay,
            atoms::undefined().as_c_arg(),
        )
    };
    rc >= 0
}

/// Makes `relay` the poller's relay, unless it has one already.
pub fn set_relay<'a>(env: Env<'a>, handle: &Handle, relay: LocalPid) -> Term<'a> {
    let mut state = handle.shared.lock();
    if state.poller.is_none() {
        atoms::closed_tuple(env)
    } else if state.relay.is_some() {
        atoms::exists().encode(env)
    } else {
        state.relay = Some(*relay.as_c_arg());
        atoms::ok().encode(env)
    }
}

/// The relay's call after the BEAM reported the poller's fd readable:
/// collects the events without blocking and sends them to every pending
/// caller, or re-arms when there were none. `busy` when another wait holds
/// the poller; the relay tries again a little later.
pub fn deliver<'a>(env: Env<'a>, handle: &Handle, poller_term: Term<'a>) -> Term<'a> {
    let poller = {
        let mut state = handle.shared.lock();
        state.armed = false;
        match &state.poller {
            Some(poller) if !state.pending.is_empty() => poller.clone(),
            _ => return atoms::ok().encode(env),
        }
    };

    let mut events = Events::with_capacity(CAPACITY);
    if let Err(err) = poller.wait(&mut events, Some(Duration::ZERO)) {
        if err.raw_os_error() == Some(libc::EBUSY) {
            return atoms::busy().encode(env);
        }
        // A poller that cannot wait has nothing to deliver, ever.
        handle.shared.lock().pending.clear();
        return atoms::io_error(env, &err);
    }

    let mut state = handle.shared.lock();
    if state.poller.is_none() {
        return atoms::ok().encode(env);
    }
    let terms = state.encode_events(env, &events);
    if terms.is_empty() {
        // A wake, or events of registrations dropped meanwhile.
        let relay = state.relay;
        if let (Some(fd), Some(relay)) = (poller.as_raw_fd(), relay) {
            if !state.armed && arm(env, handle.obj(), fd, &relay) {
                state.armed = true;
            }
        }
        return atoms::ok().encode(env);
    }
    let pids = mem::take(&mut state.pending);
    drop(state);

    let message = (atoms::kpoll(), poller_term, terms).encode(env);
    for pid in pids {
        let _ = env.send(&LocalPid::from_c_arg(pid), message);
    }
    atoms::ok().encode(env)
}

fn activate_thread<'a>(
    env: Env<'a>,
    handle: &Handle,
    state: &mut State,
    pid: ErlNifPid,
) -> Term<'a> {
    // While activations are pending the thread needs the resource alive, to
    // name it in the message.
    let kept_now = !state.kept;
    if kept_now {
        // SAFETY: obj is live: the caller's term references it.
        unsafe { enif_keep_resource(handle.obj()) };
        state.kept = true;
    }
    state.pending.push(pid);

    if !state.thread {
        let shared = handle.shared.clone();
        let obj = ResourcePtr(handle.obj());
        let spawned = thread::Builder::new()
            .name("kpoll-activate".into())
            .spawn(move || run_thread(shared, obj));
        if spawned.is_err() {
            state.pending.pop();
            if kept_now {
                state.kept = false;
                // SAFETY: releases the reference taken above; the caller's
                // term still holds the resource.
                unsafe { enif_release_resource(handle.obj()) };
            }
            return atoms::errno_tuple(env, libc::EAGAIN);
        }
        state.thread = true;
    }
    atoms::ok().encode(env)
}

/// The delivery thread of a poll or select poller: waits in slices while
/// activations are pending, until the poller closes.
fn run_thread(shared: Arc<Shared>, obj: ResourcePtr) {
    // A panic must not leave the thread marked running with the resource
    // referenced for ever: whatever ends the loop, the cleanup runs.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| thread_loop(&shared, &obj)));
    shared.lock().thread = false;
    drop_pending(&shared, &obj);
}

fn thread_loop(shared: &Shared, obj: &ResourcePtr) {
    let mut events = Events::with_capacity(CAPACITY);
    let mut msg_env = OwnedEnv::new();

    loop {
        let poller = {
            let mut state = shared.lock();
            while state.poller.is_some() && state.pending.is_empty() {
                state = shared
                    .wakeup
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            state.poller.clone()
        };
        let Some(poller) = poller else {
            return;
        };

        match poller.wait(&mut events, Some(SLICE)) {
            Ok(0) => {}
            Ok(_) => send_from_thread(shared, obj, &events, &mut msg_env),
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => thread::sleep(BUSY_BACKOFF),
            Err(_) => drop_pending(shared, obj),
        }
    }
}

fn send_from_thread(shared: &Shared, obj: &ResourcePtr, events: &Events, msg_env: &mut OwnedEnv) {
    let release = {
        let mut state = shared.lock();
        if state.poller.is_none() || state.pending.is_empty() {
            return;
        }

        let sent = msg_env.run(|env| {
            let terms = state.encode_events(env, events);
            if terms.is_empty() {
                return false;
            }
            // SAFETY: pending activations hold a reference to obj.
            let poller_term = unsafe { resource::make_term(env, obj.0) };
            let message = (atoms::kpoll(), poller_term, terms).encode(env);
            for pid in &state.pending {
                let _ = env.send(&LocalPid::from_c_arg(*pid), message);
            }
            true
        });
        msg_env.clear();
        if !sent {
            return;
        }
        state.pending.clear();
        mem::replace(&mut state.kept, false)
    };

    if release {
        // SAFETY: drops the reference activate_thread took; this may free
        // the resource, so no lock is held.
        unsafe { enif_release_resource(obj.0) };
    }
}

/// Forgets pending activations, and the reference they held.
fn drop_pending(shared: &Shared, obj: &ResourcePtr) {
    let release = {
        let mut state = shared.lock();
        state.pending.clear();
        mem::replace(&mut state.kept, false)
    };
    if release {
        // SAFETY: as in send_from_thread.
        unsafe { enif_release_resource(obj.0) };
    }
}
