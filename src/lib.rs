//! kpoll: one poller over the kernel's readiness interfaces.
//!
//! An event loop must learn which of its fds are ready. `select` and `poll`
//! hand the kernel the whole list on every call; epoll (Linux), kqueue (macOS
//! and the BSDs) and `/dev/poll` (Solaris, illumos) keep the set in the kernel
//! and return only the ready fds, so a wait costs what the events cost, not
//! what the registrations cost. kpoll drives all of them, with poll and select
//! as portable fallbacks, and every backend keeps the same rules:
//!
//! - one registration per fd per poller, with a `u64` token of the caller's;
//! - level-triggered by default, [`Interest::ONESHOT`] on every backend,
//!   [`Interest::EDGE`] where the kernel has it;
//! - one merged [`Event`] per fd per wait, and fairness when more fds are
//!   ready than the buffer holds;
//! - [`Poller::wake`] from any thread or signal handler;
//! - changes made from other threads take effect in the wait in progress.
//!
//! # Examples
//!
//! ```
//! use std::io::Write;
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//!
//! use kpoll::{Events, Interest, Poller};
//!
//! let poller = Poller::new()?;
//! let (mut a, b) = UnixStream::pair()?;
//! poller.register(&b, Interest::READABLE, 7)?;
//!
//! a.write_all(b"ping")?;
//!
//! let mut events = Events::with_capacity(16);
//! let n = poller.wait(&mut events, Some(Duration::from_secs(5)))?;
//! assert_eq!(n, 1);
//! let event = events.iter().next().unwrap();
//! assert_eq!(event.token(), 7);
//! assert!(event.is_readable());
//!
//! poller.deregister(&b)?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod backend;
mod event;
mod ffi;
mod interest;
mod poller;

pub use event::{Event, Events};
pub use interest::{Interest, Readiness};
pub use poller::{Backend, Poller, Source, Stats};
