//! The NIF behind the Erlang module `kpoll` (and so the Elixir `KPoll`).
//!
//! Each exported function checks its arguments, takes the poller's lock
//! for as long as it touches the registrations, and answers in the terms
//! the module documents: `ok`, `{ok, _}`, `{error, Errno}`, `{error, closed}`
//! or `badarg`. Nothing here blocks a normal scheduler: `wait_slice/2`, the
//! one call that blocks, runs on a dirty I/O scheduler and for at most one
//! slice; the Erlang side loops over slices.

mod atoms;
mod convert;
mod deliver;
mod resource;

use std::os::fd::RawFd;
use std::time::Duration;

use kpoll::{Backend, Events, Interest, Poller};
use rustler::{Atom, Encoder, Env, Error, LocalPid, NifResult, Term};

use crate::convert::{decode_fd, decode_interest, ArgError, Token};
use crate::resource::{Closer, Handle, State};

rustler::init!("kpoll", load = load);

fn load(env: Env<'_>, _info: Term<'_>) -> bool {
    resource::open_type(env)
}

/// Panics inside a NIF, in builds with the `fault-injection` feature only:
/// Rustler catches the panic and raises an Erlang error instead.
#[cfg(feature = "fault-injection")]
#[rustler::nif]
fn fault_panic() -> Atom {
    panic!("fault injection: a panic inside the NIF")
}

/// The answer to an argument that failed to decode.
fn arg_error(env: Env<'_>, err: ArgError) -> NifResult<Term<'_>> {
    match err {
        ArgError::BadArg => Err(Error::BadArg),
        ArgError::Errno(errno) => Ok(atoms::errno_tuple(env, errno)),
    }
}

fn ok_or_error<'a>(env: Env<'a>, result: std::io::Result<()>) -> Term<'a> {
    match result {
        Ok(()) => atoms::ok().encode(env),
        Err(err) => atoms::io_error(env, &err),
    }
}

#[rustler::nif(name = "new_nif")]
fn new_nif<'a>(env: Env<'a>, backend: Atom) -> Term<'a> {
    let name = backend.to_term(env).atom_to_string().unwrap_or_default();
    let Some(backend) = Backend::from_name(&name) else {
        return atoms::errno_tuple(env, libc::EINVAL);
    };
    match Poller::with_backend(backend) {
        Ok(poller) => (atoms::ok(), resource::create(env, poller)).encode(env),
        Err(err) => atoms::io_error(env, &err),
    }
}

#[rustler::nif(name = "register")]
fn register<'a>(
    env: Env<'a>,
    poller: Term<'a>,
    fd: Term<'a>,
    interest: Term<'a>,
    token: Term<'a>,
) -> NifResult<Term<'a>> {
    change(env, poller, fd, interest, token, State::register)
}

#[rustler::nif(name = "modify")]
fn modify<'a>(
    env: Env<'a>,
    poller: Term<'a>,
    fd: Term<'a>,
    interest: Term<'a>,
    token: Term<'a>,
) -> NifResult<Term<'a>> {
    change(env, poller, fd, interest, token, State::modify)
}

/// What `register` and `modify` share: decode the arguments, then apply
/// `operation` to an open poller.
fn change<'a>(
    env: Env<'a>,
    poller: Term<'a>,
    fd: Term<'a>,
    interest: Term<'a>,
    token: Term<'a>,
    operation: fn(&mut State, RawFd, Interest, Token) -> std::io::Result<()>,
) -> NifResult<Term<'a>> {
    let handle = Handle::get(poller)?;
    let (fd, interest) = match (decode_fd(fd), decode_interest(interest)) {
        (Ok(fd), Ok(interest)) => (fd, interest),
        (Err(err), _) | (_, Err(err)) => return arg_error(env, err),
    };

    let mut state = handle.shared.lock();
    if state.poller.is_none() {
        return Ok(atoms::closed_tuple(env));
    }
    let result = operation(&mut state, fd, interest, Token::new(token));
    Ok(ok_or_error(env, result))
}

#[rustler::nif(name = "deregister")]
fn deregister<'a>(env: Env<'a>, poller: Term<'a>, fd: Term<'a>) -> NifResult<Term<'a>> {
    let handle = Handle::get(poller)?;
    let fd = match decode_fd(fd) {
        Ok(fd) => fd,
        Err(err) => return arg_error(env, err),
    };

    let mut state = handle.shared.lock();
    if state.poller.is_none() {
        return Ok(atoms::closed_tuple(env));
    }
    Ok(ok_or_error(env, state.deregister(fd)))
}

/// One slice of `kpoll:wait/2`: `{ok, Events}` when events came or the
/// poller was woken, `timeout` when the slice ran out with neither.
#[rustler::nif(name = "wait_slice", schedule = "DirtyIo")]
fn wait_slice<'a>(env: Env<'a>, poller: Term<'a>, slice_ms: u64) -> NifResult<Term<'a>> {
    let handle = Handle::get(poller)?;
    let slice = Duration::from_millis(slice_ms).min(deliver::SLICE);
    let Some(poller) = handle.shared.lock().poller.clone() else {
        return Ok(atoms::closed_tuple(env));
    };

    // A wake returns 0 events, as a timeout does; the count of wakes the
    // poller consumed tells them apart. Only one wait runs at a time.
    let wakes = poller.stats().wakes;
    let mut events = Events::with_capacity(deliver::CAPACITY);
    let result = poller.wait(&mut events, Some(slice));

    let state = handle.shared.lock();
    if state.poller.is_none() {
        return Ok(atoms::closed_tuple(env));
    }
    match result {
        Err(err) => Ok(atoms::io_error(env, &err)),
        Ok(_) => {
            let terms = state.encode_events(env, &events);
            if terms.is_empty() && poller.stats().wakes == wakes {
                Ok(atoms::timeout().encode(env))
            } else {
                Ok((atoms::ok(), terms).encode(env))
            }
        }
    }
}

#[rustler::nif(name = "activate_nif")]
fn activate_nif<'a>(env: Env<'a>, poller: Term<'a>) -> NifResult<Term<'a>> {
    let handle = Handle::get(poller)?;
    Ok(deliver::activate(env, &handle))
}

#[rustler::nif(name = "set_relay")]
fn set_relay<'a>(env: Env<'a>, poller: Term<'a>, relay: LocalPid) -> NifResult<Term<'a>> {
    let handle = Handle::get(poller)?;
    Ok(deliver::set_relay(env, &handle, relay))
}

#[rustler::nif(name = "deliver")]
fn deliver<'a>(env: Env<'a>, poller: Term<'a>) -> NifResult<Term<'a>> {
    let handle = Handle::get(poller)?;
    Ok(deliver::deliver(env, &handle, poller))
}

/// Runs `answer` on the open poller behind `term`: `badarg` for a term that
/// is no poller, `{error, closed}` for a closed one.
fn with_open<'a>(
    env: Env<'a>,
    term: Term<'a>,
    answer: impl FnOnce(&Poller) -> NifResult<Term<'a>>,
) -> NifResult<Term<'a>> {
    let handle = Handle::get(term)?;
    let poller = handle.shared.lock().poller.clone();
    match poller {
        Some(poller) => answer(&poller),
        None => Ok(atoms::closed_tuple(env)),
    }
}

#[rustler::nif(name = "wake")]
fn wake<'a>(env: Env<'a>, poller: Term<'a>) -> NifResult<Term<'a>> {
    with_open(env, poller, |poller| Ok(ok_or_error(env, poller.wake())))
}

#[rustler::nif(name = "close")]
fn close<'a>(env: Env<'a>, poller: Term<'a>) -> NifResult<Term<'a>> {
    let handle = Handle::get(poller)?;
    // SAFETY: handle.obj() is the live resource of the argument term.
    unsafe {
        handle
            .shared
            .close(env.as_c_arg(), handle.obj(), Closer::Call)
    };
    Ok(atoms::ok().encode(env))
}

#[rustler::nif(name = "backend")]
fn backend<'a>(env: Env<'a>, poller: Term<'a>) -> NifResult<Term<'a>> {
    with_open(env, poller, |poller| {
        Ok(backend_atom(env, poller.backend()))
    })
}

#[rustler::nif(name = "info")]
fn info<'a>(env: Env<'a>, poller: Term<'a>) -> NifResult<Term<'a>> {
    with_open(env, poller, |poller| info_map(env, poller))
}

/// `kpoll:info/1`'s map: the backend and the statistics.
fn info_map<'a>(env: Env<'a>, poller: &Poller) -> NifResult<Term<'a>> {
    let stats = poller.stats();
    let keys = [
        atoms::backend().encode(env),
        atoms::registered().encode(env),
        atoms::fallback().encode(env),
        atoms::waits().encode(env),
        atoms::events().encode(env),
        atoms::wakes().encode(env),
    ];
    let values = [
        backend_atom(env, poller.backend()),
        stats.registered.encode(env),
        stats.fallback.encode(env),
        stats.waits.encode(env),
        stats.events.encode(env),
        stats.wakes.encode(env),
    ];
    Term::map_from_term_arrays(env, &keys, &values)
}

#[rustler::nif(name = "supported_backends")]
fn supported_backends(env: Env<'_>) -> Term<'_> {
    let names: Vec<Term<'_>> = Backend::supported()
        .into_iter()
        .map(|backend| backend_atom(env, backend))
        .collect();
    names.encode(env)
}

fn backend_atom(env: Env<'_>, backend: Backend) -> Term<'_> {
    Atom::from_str(env, backend.name())
        .map(|atom| atom.encode(env))
        .unwrap_or_else(|_| atoms::undefined().encode(env))
}
