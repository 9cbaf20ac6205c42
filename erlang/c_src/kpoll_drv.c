/*
 * kpoll_drv: a linked-in port driver that gives each port one kpoll poller.
 *
 * The driver is a plain C client of include/kpoll.h. Commands arrive through
 * erlang:port_control/3 (see kpoll_drv.erl for the Erlang side):
 *
 *   code  payload (big-endian)                  reply
 *   1     open: backend u32, capacity u32      <<0>>
 *   2     register: fd i32, interest u32,      <<0>>
 *               token u64
 *   3     modify: as register                  <<0>>
 *   4     deregister: fd i32                   <<0>>
 *   5     activate: nothing                    <<0>>
 *   6     info: nothing                        <<0, backend u8, registered,
 *                                                fallback, waits, events,
 *                                                wakes: u64 each>>
 *
 * Any failure replies <<1, Name/binary>>, Name being the lowercase errno
 * atom. Bytes that match no command get einval; port_command data is
 * ignored.
 *
 * Delivery never blocks a scheduler. Where the poller has a pollable fd
 * (epoll, kqueue, /dev/poll) the BEAM watches that fd with driver_select
 * and ready_input takes the events with a zero timeout. Where it has none
 * (poll, select) a thread of the driver's own blocks in kpoll_wait and
 * signals the BEAM through an eventfd (a pipe off Linux) that driver_select
 * watches instead.
 *
 * The poller outlives its port until the BEAM calls stop_select for the fd
 * it watched: only then is it safe to close that fd, which kpoll_free does.
 * stop_select is handed nothing but the fd, so a small table maps each
 * watched fd to what must be freed with it.
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/eventfd.h>
#endif

#include <erl_driver.h>

#include "kpoll.h"

#define CMD_OPEN 1
#define CMD_REGISTER 2
#define CMD_MODIFY 3
#define CMD_DEREGISTER 4
#define CMD_ACTIVATE 5
#define CMD_INFO 6

#define REPLY_OK 0
#define REPLY_ERROR 1

#define CAPACITY_MAX 65536u

/* Words of term data one event needs: fd, token, up to five flags, tuple. */
#define TERM_WORDS_PER_EVENT 19
/* Words around the event list: {kpoll, Port, [...]}. */
#define TERM_WORDS_FRAME 9

/* What stop_select frees for one watched fd. */
typedef struct kp_pending {
    struct kp_pending *next;
    int fd;                 /* the fd the BEAM watched */
    int signal_write;       /* write end of a pipe, or -1 */
    int owns_fd;            /* 1 if fd is the driver's signal fd */
    kpoll *poller;
} kp_pending;

/* The waiter thread's side of a poll or select poller. */
typedef struct kp_waiter {
    ErlDrvMutex *lock;
    ErlDrvCond *cond;
    ErlDrvTid tid;
    int started;
    int want;               /* an activate waits for events */
    int quit;               /* the port is closing */
    int ready;              /* result holds an outcome not yet delivered */
    int result;             /* kpoll_wait's return */
} kp_waiter;

typedef struct kp_port {
    ErlDrvPort port;
    ErlDrvTermData port_term;
    kpoll *poller;          /* NULL until open */
    int watch_fd;           /* the fd driver_select watches */
    int signal_write;       /* where the waiter signals; -1 when native */
    int active;             /* activate called, nothing delivered yet */
    size_t capacity;
    kpoll_event *events;
    ErlDrvUInt64 *tokens;   /* tokens copied for ERL_DRV_UINT64 */
    kp_waiter waiter;
} kp_port;

static ErlDrvMutex *pending_lock;
static kp_pending *pending_head;

static ErlDrvTermData atom_kpoll;
static ErlDrvTermData atom_error;
static ErlDrvTermData atom_flags[5];

static const uint32_t flag_bits[5] = {
    KPOLL_READABLE, KPOLL_WRITABLE, KPOLL_PRIORITY, KPOLL_ERROR, KPOLL_HANGUP
};

/* The errno atoms the API names, spelled the same on every OS. */
static const char *
errno_name(int error)
{
    switch (error) {
    case EBADF: return "ebadf";
    case EEXIST: return "eexist";
    case ENOENT: return "enoent";
    case EINVAL: return "einval";
    case ENOTSUP: return "enotsup";
    case EBUSY: return "ebusy";
    case EMFILE: return "emfile";
    case ENFILE: return "enfile";
    case ENOMEM: return "enomem";
    case EPERM: return "eperm";
    case ENOTRECOVERABLE: return "enotrecoverable";
    default: return erl_errno_id(error);
    }
}

static uint32_t
get_u32(const char *p)
{
    const unsigned char *b = (const unsigned char *)p;

    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16
        | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static uint64_t
get_u64(const char *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static void
put_u64(char *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

/* Copies a reply out, into a binary of its own when rbuf is too small. */
static ErlDrvSSizeT
reply(char **rbuf, ErlDrvSizeT rlen, const char *data, size_t len)
{
    ErlDrvBinary *bin;

    if (len <= rlen) {
        memcpy(*rbuf, data, len);
        return (ErlDrvSSizeT)len;
    }
    bin = driver_alloc_binary(len);
    if (bin == NULL)
        return -1;
    memcpy(bin->orig_bytes, data, len);
    *rbuf = (char *)bin;
    return (ErlDrvSSizeT)len;
}

static ErlDrvSSizeT
reply_ok(char **rbuf, ErlDrvSizeT rlen)
{
    char ok = REPLY_OK;

    return reply(rbuf, rlen, &ok, 1);
}

/* rc is a negative errno, as every kpoll call returns. */
static ErlDrvSSizeT
reply_error(char **rbuf, ErlDrvSizeT rlen, int rc)
{
    char buf[64];
    const char *name = errno_name(-rc);
    size_t len = strlen(name);

    if (len > sizeof(buf) - 1)
        len = sizeof(buf) - 1;
    buf[0] = REPLY_ERROR;
    memcpy(buf + 1, name, len);
    return reply(rbuf, rlen, buf, len + 1);
}

static ErlDrvSSizeT
reply_status(char **rbuf, ErlDrvSizeT rlen, int rc)
{
    return rc < 0 ? reply_error(rbuf, rlen, rc) : reply_ok(rbuf, rlen);
}

static void
pending_add(kp_pending *entry)
{
    erl_drv_mutex_lock(pending_lock);
    entry->next = pending_head;
    pending_head = entry;
    erl_drv_mutex_unlock(pending_lock);
}

static kp_pending *
pending_take(int fd)
{
    kp_pending **link;
    kp_pending *found = NULL;

    erl_drv_mutex_lock(pending_lock);
    for (link = &pending_head; *link != NULL; link = &(*link)->next) {
        if ((*link)->fd == fd) {
            found = *link;
            *link = found->next;
            break;
        }
    }
    erl_drv_mutex_unlock(pending_lock);
    return found;
}

static void
close_signal(int read_fd, int write_fd)
{
    if (write_fd >= 0 && write_fd != read_fd)
        close(write_fd);
    if (read_fd >= 0)
        close(read_fd);
}

/* Opens the fd the waiter thread makes readable: close-on-exec, nonblocking. */
static int
open_signal(int *read_fd, int *write_fd)
{
#if defined(__linux__)
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    if (fd < 0)
        return -errno;
    *read_fd = fd;
    *write_fd = fd;
    return 0;
#else
    /* Not yet run: no non-Linux host has built this driver. */
    int fds[2];
    int i;

    if (pipe(fds) < 0)
        return -errno;
    for (i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0
            || fcntl(fds[i], F_SETFL, O_NONBLOCK) < 0) {
            int rc = -errno;

            close(fds[0]);
            close(fds[1]);
            return rc;
        }
    }
    *read_fd = fds[0];
    *write_fd = fds[1];
    return 0;
#endif
}

static void
raise_signal(int write_fd)
{
    uint64_t one = 1;
    ssize_t n;

    /* A full pipe or counter already says "look"; nothing is lost. */
    do {
        n = write(write_fd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}

static void
drain_signal(int read_fd)
{
    char buf[64];
    ssize_t n;

    do {
        n = read(read_fd, buf, sizeof(buf));
    } while (n > 0 || (n < 0 && errno == EINTR));
}

/* The waiter: one kpoll_wait per activate, its outcome handed to the BEAM. */
static void *
waiter_main(void *arg)
{
    kp_port *kp = arg;
    kp_waiter *w = &kp->waiter;
    int n;

    erl_drv_mutex_lock(w->lock);
    for (;;) {
        while (!w->quit && !w->want)
            erl_drv_cond_wait(w->cond, w->lock);
        if (w->quit)
            break;

        /* Wait unlocked: close reaches us through kpoll_wake. */
        erl_drv_mutex_unlock(w->lock);
        n = kpoll_wait(kp->poller, kp->events, kp->capacity, -1);
        erl_drv_mutex_lock(w->lock);

        /* Zero means a wake: look at quit and want again. */
        if (n == 0)
            continue;
        w->result = n;
        w->ready = 1;
        w->want = 0;
        raise_signal(kp->signal_write);
    }
    erl_drv_mutex_unlock(w->lock);
    return NULL;
}

static int
waiter_start(kp_port *kp)
{
    kp_waiter *w = &kp->waiter;
    int rc;

    w->lock = erl_drv_mutex_create("kpoll_drv_waiter");
    w->cond = erl_drv_cond_create("kpoll_drv_waiter");
    if (w->lock == NULL || w->cond == NULL)
        return -ENOMEM;
    rc = erl_drv_thread_create("kpoll_drv_waiter", &w->tid, waiter_main,
                               kp, NULL);
    if (rc != 0)
        return -rc;
    w->started = 1;
    return 0;
}

/* Stops and joins the waiter; the poller stays for stop_select to free. */
static void
waiter_stop(kp_port *kp)
{
    kp_waiter *w = &kp->waiter;

    if (w->started) {
        erl_drv_mutex_lock(w->lock);
        w->quit = 1;
        erl_drv_cond_signal(w->cond);
        erl_drv_mutex_unlock(w->lock);
        kpoll_wake(kp->poller);
        erl_drv_thread_join(w->tid, NULL);
        w->started = 0;
    }
    if (w->cond != NULL)
        erl_drv_cond_destroy(w->cond);
    if (w->lock != NULL)
        erl_drv_mutex_destroy(w->lock);
    w->cond = NULL;
    w->lock = NULL;
}

static void
free_buffers(kp_port *kp)
{
    if (kp->events != NULL)
        driver_free(kp->events);
    if (kp->tokens != NULL)
        driver_free(kp->tokens);
    kp->events = NULL;
    kp->tokens = NULL;
}

static int
alloc_buffers(kp_port *kp, size_t capacity)
{
    kp->capacity = capacity;
    kp->events = driver_alloc(sizeof(*kp->events) * capacity);
    kp->tokens = driver_alloc(sizeof(*kp->tokens) * capacity);
    if (kp->events == NULL || kp->tokens == NULL) {
        free_buffers(kp);
        return -ENOMEM;
    }
    return 0;
}

/* Sends {kpoll, Port, [{Fd, Token, Flags}]} or {kpoll, Port, {error, R}}. */
static void
deliver(kp_port *kp, int n)
{
    ErlDrvTermData small[TERM_WORDS_FRAME + TERM_WORDS_PER_EVENT];
    ErlDrvTermData *t = small;
    int i, j, count;

    /* A batch gets a buffer of its own; without memory for one, the
     * events taken are lost and the message says enomem instead. */
    if (n > 1) {
        t = driver_alloc(sizeof(*t) * (TERM_WORDS_FRAME
                                       + TERM_WORDS_PER_EVENT * (size_t)n));
        if (t == NULL) {
            t = small;
            n = -ENOMEM;
        }
    }

    t[0] = ERL_DRV_ATOM;
    t[1] = atom_kpoll;
    t[2] = ERL_DRV_PORT;
    t[3] = kp->port_term;
    count = 4;

    if (n < 0) {
        t[count++] = ERL_DRV_ATOM;
        t[count++] = atom_error;
        t[count++] = ERL_DRV_ATOM;
        t[count++] = driver_mk_atom((char *)errno_name(-n));
        t[count++] = ERL_DRV_TUPLE;
        t[count++] = 2;
    } else {
        for (i = 0; i < n; i++) {
            int flags = 0;

            kp->tokens[i] = kp->events[i].token;
            t[count++] = ERL_DRV_INT;
            t[count++] = (ErlDrvTermData)(ErlDrvSInt)kp->events[i].fd;
            t[count++] = ERL_DRV_UINT64;
            t[count++] = (ErlDrvTermData)&kp->tokens[i];
            for (j = 0; j < 5; j++) {
                if (kp->events[i].events & flag_bits[j]) {
                    t[count++] = ERL_DRV_ATOM;
                    t[count++] = atom_flags[j];
                    flags++;
                }
            }
            t[count++] = ERL_DRV_NIL;
            t[count++] = ERL_DRV_LIST;
            t[count++] = (ErlDrvTermData)(flags + 1);
            t[count++] = ERL_DRV_TUPLE;
            t[count++] = 3;
        }
        t[count++] = ERL_DRV_NIL;
        t[count++] = ERL_DRV_LIST;
        t[count++] = (ErlDrvTermData)(n + 1);
    }
    t[count++] = ERL_DRV_TUPLE;
    t[count++] = 3;

    erl_drv_output_term(kp->port_term, t, count);
    if (t != small)
        driver_free(t);
}

static int
kp_init(void)
{
    static const char *names[5] = {
        "readable", "writable", "priority", "error", "hangup"
    };
    int i;

    pending_lock = erl_drv_mutex_create("kpoll_drv_pending");
    if (pending_lock == NULL)
        return -1;
    atom_kpoll = driver_mk_atom("kpoll");
    atom_error = driver_mk_atom("error");
    for (i = 0; i < 5; i++)
        atom_flags[i] = driver_mk_atom((char *)names[i]);
    return 0;
}

static void
kp_finish(void)
{
    if (pending_lock != NULL)
        erl_drv_mutex_destroy(pending_lock);
    pending_lock = NULL;
}

/* The poller is made by the open command, so its errors reach the caller. */
static ErlDrvData
kp_start(ErlDrvPort port, char *command)
{
    kp_port *kp;

    (void)command;
    kp = driver_alloc(sizeof(*kp));
    if (kp == NULL) {
        errno = ENOMEM;
        return ERL_DRV_ERROR_ERRNO;
    }
    memset(kp, 0, sizeof(*kp));
    kp->port = port;
    kp->port_term = driver_mk_port(port);
    kp->watch_fd = -1;
    kp->signal_write = -1;
    set_port_control_flags(port, PORT_CONTROL_FLAG_BINARY);
    return (ErlDrvData)kp;
}

static void
kp_stop(ErlDrvData data)
{
    kp_port *kp = (kp_port *)data;

    if (kp->poller != NULL) {
        waiter_stop(kp);

        /* stop_select frees the poller once the BEAM lets go of the fd. */
        driver_select(kp->port, (ErlDrvEvent)(intptr_t)kp->watch_fd,
                      ERL_DRV_USE | ERL_DRV_READ, 0);
    }
    free_buffers(kp);
    driver_free(kp);
}

static void
kp_stop_select(ErlDrvEvent event, void *reserved)
{
    kp_pending *entry = pending_take((int)(intptr_t)event);

    (void)reserved;
    if (entry == NULL)
        return;
    if (entry->owns_fd)
        close_signal(entry->fd, entry->signal_write);
    kpoll_free(entry->poller);
    driver_free(entry);
}

/* Data sent with port_command has no meaning here and is dropped. */
static void
kp_output(ErlDrvData data, char *buf, ErlDrvSizeT len)
{
    (void)data;
    (void)buf;
    (void)len;
}

/* Undoes a half-made open; the BEAM does not watch any of it. */
static void
open_unwind(kp_port *kp, kpoll *poller, int read_fd, int write_fd)
{
    waiter_stop(kp);
    close_signal(read_fd, write_fd);
    kpoll_free(poller);
    free_buffers(kp);
    kp->poller = NULL;
    kp->watch_fd = -1;
    kp->signal_write = -1;
}

static int
do_open(kp_port *kp, const char *buf, ErlDrvSizeT len)
{
    kpoll *poller = NULL;
    kp_pending *entry;
    uint32_t backend, capacity;
    int fd, read_fd = -1, write_fd = -1, rc;

    if (kp->poller != NULL || len != 8)
        return -EINVAL;
    backend = get_u32(buf);
    capacity = get_u32(buf + 4);
    if (capacity == 0 || capacity > CAPACITY_MAX)
        return -EINVAL;

    /* Make the poller and find what the BEAM can watch for it. */
    rc = kpoll_new(backend, &poller);
    if (rc < 0)
        return rc;
    rc = alloc_buffers(kp, capacity);
    if (rc < 0) {
        kpoll_free(poller);
        return rc;
    }
    entry = driver_alloc(sizeof(*entry));
    if (entry == NULL) {
        open_unwind(kp, poller, -1, -1);
        return -ENOMEM;
    }
    fd = kpoll_fd(poller);
    if (fd < 0 && fd != -ENOTSUP) {
        driver_free(entry);
        open_unwind(kp, poller, -1, -1);
        return fd;
    }

    /* Without a pollable fd, a waiter thread stands in for one. */
    kp->poller = poller;
    if (fd == -ENOTSUP) {
        rc = open_signal(&read_fd, &write_fd);
        if (rc == 0) {
            kp->signal_write = write_fd;
            rc = waiter_start(kp);
        }
        if (rc < 0) {
            driver_free(entry);
            open_unwind(kp, poller, read_fd, write_fd);
            return rc;
        }
        fd = read_fd;
    }
    kp->watch_fd = fd;

    /* Mark the fd used, so that closing the port ends in stop_select. */
    entry->fd = fd;
    entry->signal_write = write_fd;
    entry->owns_fd = read_fd >= 0;
    entry->poller = poller;
    pending_add(entry);
    if (driver_select(kp->port, (ErlDrvEvent)(intptr_t)fd, ERL_DRV_USE,
                      1) < 0) {
        driver_free(pending_take(fd));
        open_unwind(kp, poller, read_fd, write_fd);
        return -EMFILE;
    }
    return 0;
}

static int
do_activate(kp_port *kp)
{
    kp_waiter *w = &kp->waiter;

    if (kp->active)
        return 0;
    if (driver_select(kp->port, (ErlDrvEvent)(intptr_t)kp->watch_fd,
                      ERL_DRV_READ | ERL_DRV_USE, 1) < 0)
        return -EINVAL;
    kp->active = 1;
    if (w->started) {
        erl_drv_mutex_lock(w->lock);
        w->want = 1;
        erl_drv_cond_signal(w->cond);
        erl_drv_mutex_unlock(w->lock);
    }
    return 0;
}

static ErlDrvSSizeT
do_info(kp_port *kp, char **rbuf, ErlDrvSizeT rlen)
{
    kpoll_stats stats;
    char buf[2 + 5 * 8];
    int rc;

    rc = kpoll_get_stats(kp->poller, &stats);
    if (rc < 0)
        return reply_error(rbuf, rlen, rc);
    buf[0] = REPLY_OK;
    buf[1] = (char)kpoll_backend_of(kp->poller);
    put_u64(buf + 2, stats.registered);
    put_u64(buf + 10, stats.fallback);
    put_u64(buf + 18, stats.waits);
    put_u64(buf + 26, stats.events);
    put_u64(buf + 34, stats.wakes);
    return reply(rbuf, rlen, buf, sizeof(buf));
}

static ErlDrvSSizeT
kp_control(ErlDrvData data, unsigned int command, char *buf,
           ErlDrvSizeT len, char **rbuf, ErlDrvSizeT rlen)
{
    kp_port *kp = (kp_port *)data;

    if (command == CMD_OPEN)
        return reply_status(rbuf, rlen, do_open(kp, buf, len));
    if (kp->poller == NULL)
        return reply_error(rbuf, rlen, -EINVAL);

    switch (command) {
    case CMD_REGISTER:
    case CMD_MODIFY: {
        int fd, rc;
        uint32_t interest;
        uint64_t token;

        if (len != 16)
            return reply_error(rbuf, rlen, -EINVAL);
        fd = (int)(int32_t)get_u32(buf);
        interest = get_u32(buf + 4);
        token = get_u64(buf + 8);
        if (command == CMD_REGISTER)
            rc = kpoll_register(kp->poller, fd, interest, token);
        else
            rc = kpoll_modify(kp->poller, fd, interest, token);
        return reply_status(rbuf, rlen, rc);
    }
    case CMD_DEREGISTER:
        if (len != 4)
            return reply_error(rbuf, rlen, -EINVAL);
        return reply_status(rbuf, rlen,
                            kpoll_deregister(kp->poller,
                                             (int)(int32_t)get_u32(buf)));
    case CMD_ACTIVATE:
        if (len != 0)
            return reply_error(rbuf, rlen, -EINVAL);
        return reply_status(rbuf, rlen, do_activate(kp));
    case CMD_INFO:
        if (len != 0)
            return reply_error(rbuf, rlen, -EINVAL);
        return do_info(kp, rbuf, rlen);
    default:
        return reply_error(rbuf, rlen, -EINVAL);
    }
}

/* Takes what is ready, sends it, and stops watching until activate. */
static void
kp_ready_input(ErlDrvData data, ErlDrvEvent event)
{
    kp_port *kp = (kp_port *)data;
    kp_waiter *w = &kp->waiter;
    int n;

    (void)event;
    if (!kp->active)
        return;

    if (w->started) {
        drain_signal(kp->watch_fd);
        erl_drv_mutex_lock(w->lock);
        n = w->ready ? w->result : 0;
        w->ready = 0;
        erl_drv_mutex_unlock(w->lock);
    } else {
        n = kpoll_wait(kp->poller, kp->events, kp->capacity, 0);
    }

    /* Nothing yet (a wake, or a registration that went away): keep on. */
    if (n == 0)
        return;
    kp->active = 0;
    driver_select(kp->port, (ErlDrvEvent)(intptr_t)kp->watch_fd,
                  ERL_DRV_READ, 0);
    deliver(kp, n);
}

static ErlDrvEntry kp_driver_entry = {
    kp_init,                        /* init */
    kp_start,                       /* start */
    kp_stop,                        /* stop */
    kp_output,                      /* output */
    kp_ready_input,                 /* ready_input */
    NULL,                           /* ready_output */
    "kpoll_drv",                    /* driver_name */
    kp_finish,                      /* finish */
    NULL,                           /* handle */
    kp_control,                     /* control */
    NULL,                           /* timeout */
    NULL,                           /* outputv */
    NULL,                           /* ready_async */
    NULL,                           /* flush */
    NULL,                           /* call */
    NULL,                           /* unused_event_callback */
    ERL_DRV_EXTENDED_MARKER,        /* extended_marker */
    ERL_DRV_EXTENDED_MAJOR_VERSION, /* major_version */
    ERL_DRV_EXTENDED_MINOR_VERSION, /* minor_version */
    ERL_DRV_FLAG_USE_PORT_LOCKING,  /* driver_flags */
    NULL,                           /* handle2 */
    NULL,                           /* process_exit */
    kp_stop_select,                 /* stop_select */
    NULL                            /* emergency_close */
};

DRIVER_INIT(kpoll_drv)
{
    return &kp_driver_entry;
}
