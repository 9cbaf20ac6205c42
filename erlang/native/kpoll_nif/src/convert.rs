//! Terms to core values and back: fds, interest lists, tokens, events.
//!
//! A term of the wrong type is `badarg`; a term of the right type with a
//! value the core cannot take is an errno (`ebadf`, `einval`), returned as
//! `{error, Errno}` by the caller.

use std::os::unix::io::RawFd;

use kpoll::{Event, Interest, Readiness};
use rustler::env::{OwnedEnv, SavedTerm};
use rustler::sys::enif_make_copy;
use rustler::{Atom, Encoder, Env, Error, Term};

use crate::atoms;

/// An argument that failed to decode: `badarg`, or an errno for `{error, _}`.
pub enum ArgError {
    BadArg,
    Errno(i32),
}

impl From<Error> for ArgError {
    fn from(_: Error) -> ArgError {
        ArgError::BadArg
    }
}

/// An fd: any integer; a negative one or one past `int` is `EBADF`.
pub fn decode_fd(term: Term<'_>) -> Result<RawFd, ArgError> {
    if !term.is_integer() {
        return Err(ArgError::BadArg);
    }
    term.decode::<i64>()
        .ok()
        .and_then(|fd| RawFd::try_from(fd).ok())
        .filter(|fd| *fd >= 0)
        .ok_or(ArgError::Errno(libc::EBADF))
}

/// An interest list such as `[read, write, oneshot]`; an atom that names no
/// interest is `EINVAL`.
pub fn decode_interest(term: Term<'_>) -> Result<Interest, ArgError> {
    // A proper list only: the length check fails on an improper tail.
    term.list_length()?;

    let mut interest = Interest::empty();
    for item in term.into_list_iterator()? {
        let atom = Atom::from_term(item)?;
        interest |= if atom == atoms::read() {
            Interest::READABLE
        } else if atom == atoms::write() {
            Interest::WRITABLE
        } else if atom == atoms::priority() {
            Interest::PRIORITY
        } else if atom == atoms::oneshot() {
            Interest::ONESHOT
        } else if atom == atoms::edge() {
            Interest::EDGE
        } else {
            return Err(ArgError::Errno(libc::EINVAL));
        };
    }
    Ok(interest)
}

/// The readiness flags as a list, in the order of their bits.
pub fn encode_readiness(env: Env<'_>, readiness: Readiness) -> Term<'_> {
    let table = [
        (Readiness::READABLE, atoms::readable()),
        (Readiness::WRITABLE, atoms::writable()),
        (Readiness::PRIORITY, atoms::priority()),
        (Readiness::ERROR, atoms::error()),
        (Readiness::HANGUP, atoms::hangup()),
    ];
    let flags: Vec<Atom> = table
        .iter()
        .filter(|(bit, _)| readiness.contains(*bit))
        .map(|(_, atom)| *atom)
        .collect();
    flags.encode(env)
}

/// A registration's token: any term. Small integers and atoms are kept as
/// they are; any other term is copied into an environment of its own, since
/// it must outlive the call that registered it.
pub enum Token {
    Int(i64),
    Atom(Atom),
    Term(OwnedEnv, SavedTerm),
}

impl Token {
    pub fn new(term: Term<'_>) -> Token {
        if let Ok(atom) = Atom::from_term(term) {
            return Token::Atom(atom);
        }
        if let Ok(int) = term.decode::<i64>() {
            return Token::Int(int);
        }
        let owned = OwnedEnv::new();
        let saved = owned.save(term);
        Token::Term(owned, saved)
    }

    /// The token as a term of `env`.
    pub fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self {
            Token::Int(int) => int.encode(env),
            Token::Atom(atom) => atom.encode(env),
            Token::Term(owned, saved) => {
                let raw = owned.run(|own| saved.load(own).as_c_arg());
                // SAFETY: `raw` lives in `owned`, which outlives this call;
                // enif_make_copy copies it into `env`'s heap.
                unsafe { Term::new(env, enif_make_copy(env.as_c_arg(), raw)) }
            }
        }
    }
}

/// One event as Erlang sees it, `{Fd, Token, Flags}`.
pub fn encode_event<'a>(env: Env<'a>, event: &Event, token: &Token) -> Term<'a> {
    let fd = event.fd().encode(env);
    let flags = encode_readiness(env, event.readiness());
    rustler::types::tuple::make_tuple(env, &[fd, token.encode(env), flags])
}
