//! The atoms the NIF speaks, and errno values as the lowercase atoms Erlang
//! code matches on (`ebadf`, `eexist`...), as `file` and `inet` name them.

use std::io;

use rustler::{Atom, Encoder, Env, Term};

rustler::atoms! {
    ok,
    error,
    closed,
    kpoll,
    timeout,
    undefined,
    no_relay,
    exists,
    busy,
    relay_stop = "$kpoll_relay_stop",
    read,
    write,
    priority,
    oneshot,
    edge,
    readable,
    writable,
    hangup,
    backend,
    registered,
    fallback,
    waits,
    events,
    wakes,
    eunknown,
}

/// The atom of an errno value, `eunknown` for one this table lacks.
pub fn errno_atom(env: Env<'_>, errno: i32) -> Atom {
    let name = match errno {
        libc::EPERM => "eperm",
        libc::ENOENT => "enoent",
        libc::EINTR => "eintr",
        libc::EIO => "eio",
        libc::EBADF => "ebadf",
        libc::EAGAIN => "eagain",
        libc::ENOMEM => "enomem",
        libc::EACCES => "eacces",
        libc::EFAULT => "efault",
        libc::EBUSY => "ebusy",
        libc::EEXIST => "eexist",
        libc::EINVAL => "einval",
        libc::ENFILE => "enfile",
        libc::EMFILE => "emfile",
        libc::ENOSPC => "enospc",
        libc::ELOOP => "eloop",
        libc::ENOSYS => "enosys",
        libc::ENOTSUP => "enotsup",
        libc::ENOTRECOVERABLE => "enotrecoverable",
        _ => return eunknown(),
    };
    Atom::from_str(env, name).unwrap_or_else(|_| eunknown())
}

/// `{error, Errno}` for an error of the core, which always carries an errno.
pub fn io_error<'a>(env: Env<'a>, err: &io::Error) -> Term<'a> {
    let errno = err.raw_os_error().unwrap_or(libc::EIO);
    errno_tuple(env, errno)
}

/// `{error, Errno}` for a raw errno value.
pub fn errno_tuple(env: Env<'_>, errno: i32) -> Term<'_> {
    (error(), errno_atom(env, errno)).encode(env)
}

/// `{error, closed}`: the poller was closed, by `close/1`, its owner's
/// death or the garbage collector.
pub fn closed_tuple(env: Env<'_>) -> Term<'_> {
    (error(), closed()).encode(env)
}
