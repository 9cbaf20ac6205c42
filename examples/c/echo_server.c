/*
 * A TCP echo server on one kpoll poller: every byte a client sends comes
 * back. Listens on 127.0.0.1; prints its port, then, on SIGINT or SIGTERM,
 * the most connections it held at once.
 *
 *   echo_server [BACKEND [PORT]]     BACKEND: auto epoll kqueue devpoll poll
 *                                    select (default auto); PORT 0 picks one
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kpoll.h>

#define LISTENER UINT64_MAX   /* the listener's token; clients use their fd */
#define BATCH 256

/* What a client sent that its socket would not take back yet. */
struct client {
    char pending[4096];
    size_t len;
    int stuck;          /* registered for WRITABLE until pending is out */
};

static kpoll *poller;
static int listener;
static int paused;                /* out of fds: not accepting for now */
static volatile sig_atomic_t stopping;
static struct client **clients;   /* by fd */
static long live, peak;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
    kpoll_wake(poller);   /* async-signal-safe */
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "echo_server: %s: %s\n", what, kpoll_strerror(rc));
    exit(1);
}

static kpoll_backend parse_backend(const char *name)
{
    kpoll_backend b;

    for (b = KPOLL_BACKEND_AUTO; kpoll_backend_name(b) != NULL; b++) {
        if (strcmp(name, kpoll_backend_name(b)) == 0)
            return b;
    }
    fprintf(stderr, "echo_server: unknown backend %s\n", name);
    exit(2);
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int open_listener(int port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        die("socket", -errno);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("bind", -errno);
    if (listen(fd, SOMAXCONN) != 0 || set_nonblocking(fd) != 0)
        die("listen", -errno);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    printf("listening on 127.0.0.1:%d with %s\n", ntohs(addr.sin_port),
           kpoll_backend_name(kpoll_backend_of(poller)));
    fflush(stdout);
    return fd;
}

static void drop_client(int fd)
{
    kpoll_deregister(poller, fd);
    close(fd);
    free(clients[fd]);
    clients[fd] = NULL;
    live--;

    /* An fd is free again: take the waiting connections. */
    if (paused && kpoll_modify(poller, listener, KPOLL_READABLE, LISTENER) == 0)
        paused = 0;
}

/* Takes every connection waiting on the listener. */
static void accept_clients(long max_fd)
{
    for (;;) {
        int fd = accept(listener, NULL, NULL), rc;

        /* Out of fds, the listener would stay readable: disarm it. */
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            paused = kpoll_modify(poller, listener, 0, LISTENER) == 0;
            return;
        }
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                fprintf(stderr, "echo_server: accept: %s\n",
                        strerror(errno));
            return;
        }
        if (fd >= max_fd || set_nonblocking(fd) != 0) {
            close(fd);
            continue;
        }
        clients[fd] = (struct client *)calloc(1, sizeof(struct client));
        rc = kpoll_register(poller, fd, KPOLL_READABLE, (uint64_t)fd);
        if (clients[fd] == NULL || rc != 0) {
            free(clients[fd]);
            clients[fd] = NULL;
            close(fd);
            continue;
        }
        if (++live > peak)
            peak = live;
    }
}

/* Writes what is pending: 0 when all of it went, 1 when some is left, -1 on
 * an error. */
static int flush_client(int fd, struct client *c)
{
    while (c->len > 0) {
        ssize_t n = write(fd, c->pending, c->len);

        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        memmove(c->pending, c->pending + n, c->len - (size_t)n);
        c->len -= (size_t)n;
    }
    return 0;
}

static void serve_client(int fd, uint32_t events)
{
    struct client *c = clients[fd];
    int left;

    /* Echo what came; stop reading while a reply is stuck. */
    if (c->len == 0 && (events & (KPOLL_READABLE | KPOLL_HANGUP))) {
        ssize_t n = read(fd, c->pending, sizeof c->pending);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            drop_client(fd);
            return;
        }
        c->len = n > 0 ? (size_t)n : 0;
    }

    left = flush_client(fd, c);
    if (left < 0 || (events & KPOLL_ERROR)) {
        drop_client(fd);
        return;
    }

    /* Wait for room while a reply is stuck, for data once it is out. */
    if (left != c->stuck) {
        c->stuck = left;
        kpoll_modify(poller, fd, left ? KPOLL_WRITABLE : KPOLL_READABLE,
                     (uint64_t)fd);
    }
}

int main(int argc, char **argv)
{
    kpoll_backend backend = argc > 1 ? parse_backend(argv[1])
                                     : KPOLL_BACKEND_AUTO;
    int port = argc > 2 ? atoi(argv[2]) : 0;
    kpoll_event events[BATCH];
    struct sigaction sa;
    struct rlimit lim;
    int rc, i;
    long fd;

    /* Room for as many clients as the process may hold. */
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    clients = (struct client **)calloc(lim.rlim_cur, sizeof *clients);
    if (clients == NULL)
        die("calloc", -ENOMEM);

    rc = kpoll_new(backend, &poller);
    if (rc != 0)
        die("kpoll_new", rc);
    listener = open_listener(port);
    rc = kpoll_register(poller, listener, KPOLL_READABLE, LISTENER);
    if (rc != 0)
        die("kpoll_register", rc);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    while (!stopping) {
        rc = kpoll_wait(poller, events, BATCH, -1);
        if (rc < 0)
            die("kpoll_wait", rc);
        for (i = 0; i < rc; i++) {
            if (events[i].token == LISTENER)
                accept_clients((long)lim.rlim_cur);
            else if (clients[events[i].fd] != NULL)
                serve_client(events[i].fd, events[i].events);
        }
    }

    printf("peak %ld connections\n", peak);
    for (fd = 0; fd < (long)lim.rlim_cur; fd++) {
        if (clients[fd] != NULL)
            drop_client((int)fd);
    }
    free(clients);
    close(listener);
    kpoll_free(poller);
    return 0;
}
