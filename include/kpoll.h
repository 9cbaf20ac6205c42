/*
 * kpoll: one poller over epoll, kqueue and /dev/poll, with poll and select
 * fallbacks. C ABI version 0.
 *
 * Every function returns 0 or a count on success and a negative errno value
 * from <errno.h> on failure; kpoll_strerror() turns any of them into text. A
 * NULL pointer or an unknown bit or value is -EINVAL, a negative or unopened
 * fd is -EBADF, and an internal fault is -ENOTRECOVERABLE, never a crash.
 * Every call may come from any thread at once, except kpoll_free().
 */

#ifndef KPOLL_H
#define KPOLL_H

/* Generated with cbindgen:0.29.4 */

/* Written from src/ffi.rs by `make header`: do not edit. */

#include <stddef.h>
#include <stdint.h>

/**
 * Interest and readiness: data can be read, or the peer closed its end.
 */
#define KPOLL_READABLE 0x01u

/**
 * Interest and readiness: data can be written.
 */
#define KPOLL_WRITABLE 0x02u

/**
 * Interest and readiness: urgent data (`POLLPRI`); `-ENOTSUP` where absent.
 */
#define KPOLL_PRIORITY 0x04u

/**
 * Readiness only: an error is pending on the fd, or it was closed while
 * registered (poll, select).
 */
#define KPOLL_ERROR 0x08u

/**
 * Readiness only: the fd was hung up. select reports it readable instead.
 */
#define KPOLL_HANGUP 0x10u

/**
 * Mode, OR-ed into interest: report at most once, then disarm until the
 * next `kpoll_modify`.
 */
#define KPOLL_ONESHOT 0x100u

/**
 * Mode, OR-ed into interest: report when the condition becomes true. epoll
 * and kqueue only; `-ENOTSUP` elsewhere.
 */
#define KPOLL_EDGE 0x200u

/**
 * The major version of the library; the shared library's soname is
 * `libkpoll.so.<MAJOR>`.
 */
#define KPOLL_VERSION_MAJOR 0

/**
 * The minor version of the library.
 */
#define KPOLL_VERSION_MINOR 1

/**
 * The patch version of the library.
 */
#define KPOLL_VERSION_PATCH 0

/**
 * A poller: the set of registered fds and the kernel object that watches
 * them. Opaque; made by `kpoll_new`, released by `kpoll_free`.
 */
typedef struct kpoll kpoll;

/**
 * Which kernel interface a poller drives: one of the `KPOLL_BACKEND_*`
 * values.
 */
typedef uint32_t kpoll_backend;

/**
 * One ready fd, as `kpoll_wait` writes it (16 bytes).
 */
typedef struct kpoll_event {
    /**
     * The token given at `kpoll_register` or the last `kpoll_modify`.
     */
    uint64_t token;
    /**
     * The fd that is ready.
     */
    int32_t fd;
    /**
     * What it is ready for: `KPOLL_READABLE`, `KPOLL_WRITABLE`,
     * `KPOLL_PRIORITY`, `KPOLL_ERROR`, `KPOLL_HANGUP`, merged.
     */
    uint32_t events;
} kpoll_event;

/**
 * What a poller has done since it was made.
 */
typedef struct kpoll_stats {
    /**
     * fds registered now.
     */
    uint64_t registered;
    /**
     * Of those, the ones served by the poll(2) fallback (files the kernel
     * poll refuses).
     */
    uint64_t fallback;
    /**
     * `kpoll_wait` calls that returned >= 0.
     */
    uint64_t waits;
    /**
     * Events delivered, in all.
     */
    uint64_t events;
    /**
     * Wake-ups consumed.
     */
    uint64_t wakes;
} kpoll_stats;

/**
 * The best kernel poll of this OS, or the one named by the environment
 * variable `KPOLL_BACKEND` (ignored in set-uid programs).
 */
#define KPOLL_BACKEND_AUTO 0

/**
 * Linux epoll.
 */
#define KPOLL_BACKEND_EPOLL 1

/**
 * kqueue (macOS, the BSDs).
 */
#define KPOLL_BACKEND_KQUEUE 2

/**
 * `/dev/poll` (Solaris, illumos).
 */
#define KPOLL_BACKEND_DEVPOLL 3

/**
 * poll(2), everywhere.
 */
#define KPOLL_BACKEND_POLL 4

/**
 * select(2), everywhere; fds at and above `FD_SETSIZE` work too.
 */
#define KPOLL_BACKEND_SELECT 5

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Makes a poller for `backend` and stores it in `*out`.
 *
 * Returns 0, or `-EINVAL` (`out` is NULL, `backend` is unknown, or
 * `KPOLL_BACKEND` names no backend), `-ENOTSUP` (this OS lacks the
 * backend), `-EMFILE`, `-ENFILE` or `-ENOMEM`. On failure `*out` is set to
 * NULL when `out` is not NULL.
 *
 * # Safety
 *
 * `out` is NULL or points to writable storage for one pointer.
 */
int kpoll_new(kpoll_backend backend, struct kpoll **out);

/**
 * Closes a poller and releases everything it holds; registered fds stay
 * open. NULL is a no-op. No other call on this poller may run at the same
 * time or follow.
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed.
 */
void kpoll_free(struct kpoll *poller);

/**
 * Registers `fd` with `interest` (`KPOLL_READABLE`, `KPOLL_WRITABLE`,
 * `KPOLL_PRIORITY`, optionally with `KPOLL_ONESHOT` or `KPOLL_EDGE`; 0
 * registers it disarmed). Events for it carry `token`.
 *
 * Returns 0, or `-EINVAL` (NULL poller, unknown interest bit), `-EBADF`
 * (negative or unopened fd), `-EEXIST` (already registered), `-ENOTSUP`
 * (`KPOLL_EDGE` on poll, select, /dev/poll; `KPOLL_PRIORITY` on kqueue),
 * `-EPERM` (a poller of the parent process, used after `fork`), `-ENOMEM`,
 * or what the kernel poll says of the fd (`-ELOOP` for a poller's own
 * `kpoll_fd` nested in a cycle, `-ENOSPC` past epoll's `max_user_watches`).
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed.
 */
int kpoll_register(struct kpoll *poller,
                   int fd,
                   uint32_t interest,
                   uint64_t token);

/**
 * Replaces the interest and token of a registered fd; re-arms a oneshot
 * registration.
 *
 * Returns 0, or the errors of `kpoll_register`, with `-ENOENT` for an fd
 * that is not registered instead of `-EEXIST`.
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed.
 */
int kpoll_modify(struct kpoll *poller,
                 int fd,
                 uint32_t interest,
                 uint64_t token);

/**
 * Forgets a registered fd. No wait that begins after this returns reports
 * it. An fd closed while registered is forgotten too, with 0.
 *
 * Returns 0, or `-EINVAL` (NULL poller), `-EBADF` (negative fd), `-ENOENT`
 * (not registered), `-EPERM` (used after `fork`).
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed.
 */
int kpoll_deregister(struct kpoll *poller, int fd);

/**
 * Waits until registered fds are ready, a wake comes, or `timeout_ms`
 * passes (-1: forever; 0: never blocks), and writes at most `capacity`
 * events to `events`, one per fd. Fds left over come first in the next
 * waits. Signals never interrupt it.
 *
 * Returns the number of events (0 on timeout or wake), or `-EINVAL` (NULL
 * poller or events, capacity 0, timeout below -1), `-EBUSY` (another thread
 * is waiting on this poller), `-EPERM` (used after `fork`).
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed; `events` is
 * NULL or points to `capacity` writable `kpoll_event` slots.
 */
int kpoll_wait(struct kpoll *poller,
               struct kpoll_event *events,
               size_t capacity,
               int timeout_ms);

/**
 * Makes the wait in progress, or the next one, return. Wakes before a
 * wait collapse into one; a wake is never an event. Async-signal-safe.
 *
 * Returns 0, or `-EINVAL` (NULL poller).
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed.
 */
int kpoll_wake(struct kpoll *poller);

/**
 * The poller's own fd, readable whenever `kpoll_wait` would report an
 * event, so that the poller can nest in another event loop. The poller owns
 * it: never close it.
 *
 * Returns the fd (epoll, kqueue, /dev/poll), or `-ENOTSUP` (poll and select
 * have none), `-EINVAL` (NULL poller).
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed.
 */
int kpoll_fd(const struct kpoll *poller);

/**
 * The concrete backend a poller drives (never `KPOLL_BACKEND_AUTO` for a
 * poller); `KPOLL_BACKEND_AUTO` for NULL.
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed.
 */
kpoll_backend kpoll_backend_of(const struct kpoll *poller);

/**
 * 1 if this OS has `backend` (always for `KPOLL_BACKEND_AUTO`), 0 if not
 * or if `backend` is unknown.
 */
int kpoll_backend_supported(kpoll_backend backend);

/**
 * The name of a backend, as `KPOLL_BACKEND` spells it: "auto", "epoll",
 * "kqueue", "devpoll", "poll", "select"; NULL if `backend` is unknown. The
 * string is static.
 */
const char *kpoll_backend_name(kpoll_backend backend);

/**
 * Copies the poller's counters to `*out`.
 *
 * Returns 0, or `-EINVAL` (NULL poller or `out`).
 *
 * # Safety
 *
 * `poller` is NULL or came from `kpoll_new` and was not freed; `out` is
 * NULL or points to a writable `kpoll_stats`.
 */
int kpoll_get_stats(const struct kpoll *poller, struct kpoll_stats *out);

/**
 * A static, NUL-terminated text for any value these functions return: 0
 * and counts are success, a negative errno value names its error (with
 * what it means here for the errors kpoll gives itself), anything else is
 * an unknown error. Never NULL.
 */
const char *kpoll_strerror(int error);

/**
 * The library's version, `MAJOR << 16 | MINOR << 8 | PATCH`, to compare
 * with the `KPOLL_VERSION_*` macros a program was built with.
 */
uint32_t kpoll_version(void);

/**
 * The library's version as text, "MAJOR.MINOR.PATCH". The string is static.
 */
const char *kpoll_version_string(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* KPOLL_H */
