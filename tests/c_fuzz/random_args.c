/*
 * Random arguments against every function of kpoll.h, built with
 * AddressSanitizer and UndefinedBehaviorSanitizer: NULL and live pollers,
 * fds negative, huge, open, closed and reused, every interest bit, any
 * backend value, capacities and timeouts in and out of range. Each result
 * must be a count or a negative errno value the header documents for that
 * function; -ENOTRECOVERABLE (a panic caught at the boundary) fails it.
 *
 *   random_args [calls] [seed]
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kpoll.h"

#define POLLERS 4
#define PAIRS 8
#define MAX_EVENTS 64

static uint64_t rng_state;

/* splitmix64 */
static uint64_t next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n)
{
    return (uint32_t)(next() % n);
}

static struct kpoll *pollers[POLLERS];
static int ends[PAIRS][2];
static unsigned long calls, failures, errors_seen;

static void fail(const char *what, long got)
{
    fprintf(stderr, "random_args: %s returned %ld\n", what, got);
    failures++;
}

/* A result that must be >= 0 or one of the negative errno values listed
 * (0-terminated). */
static void expect(const char *what, int got, const int *allowed)
{
    calls++;
    if (got >= 0)
        return;
    errors_seen++;
    for (; *allowed != 0; allowed++)
        if (got == -*allowed)
            return;
    fail(what, got);
}

static const int new_errors[] = {EINVAL, ENOTSUP, EMFILE, ENFILE, ENOMEM, 0};
/* ELOOP: epoll refuses a cycle of pollers nested through kpoll_fd, and the
 * error is passed through; the header does not list it. */
static const int ctl_errors[] = {EINVAL, EBADF, EEXIST, ENOENT, ENOTSUP,
                                 EPERM, ENOMEM, ELOOP, 0};
static const int wait_errors[] = {EINVAL, EBUSY, 0};
static const int plain_errors[] = {EINVAL, 0};

static struct kpoll *any_poller(void)
{
    /* Mostly a live one, sometimes NULL. */
    if (below(8) == 0)
        return NULL;
    return pollers[below(POLLERS)];
}

static int any_fd(void)
{
    switch (below(10)) {
    case 0:
        return -1 - (int)below(4);
    case 1:
        return INT_MIN;
    case 2:
        return INT_MAX;
    case 3:
        return 1 << 20;
    case 4:
        return (int)below(64);
    default:
        return ends[below(PAIRS)][below(2)];
    }
}

static uint32_t any_interest(void)
{
    static const uint32_t known[] = {
        0, KPOLL_READABLE, KPOLL_WRITABLE, KPOLL_READABLE | KPOLL_WRITABLE,
        KPOLL_PRIORITY, KPOLL_READABLE | KPOLL_ONESHOT,
        KPOLL_READABLE | KPOLL_EDGE, KPOLL_WRITABLE | KPOLL_ONESHOT,
        KPOLL_READABLE | KPOLL_ONESHOT | KPOLL_EDGE
    };

    if (below(4) == 0)
        return (uint32_t)next();
    return known[below(sizeof known / sizeof known[0])];
}

static uint32_t any_backend(void)
{
    if (below(4) == 0)
        return (uint32_t)next();
    return below(8);
}

/* Replaces one socket pair, closing the old one: a registered fd closed,
 * and its number reused. */
static void reopen(int pair)
{
    close(ends[pair][0]);
    close(ends[pair][1]);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, ends[pair])) {
        perror("socketpair");
        exit(2);
    }
}

static void replace_poller(int slot)
{
    struct kpoll *made = NULL;
    int rc = kpoll_new(any_backend(), &made);

    expect("kpoll_new", rc, new_errors);
    if (rc == 0 && made == NULL)
        fail("kpoll_new gave NULL with", rc);
    if (rc < 0 && made != NULL)
        fail("kpoll_new left a pointer with", rc);
    if (rc == 0) {
        kpoll_free(pollers[slot]);
        pollers[slot] = made;
    }
}

static void check_wait(void)
{
    kpoll_event events[MAX_EVENTS];
    struct kpoll *poller = any_poller();
    size_t capacity = below(MAX_EVENTS + 1);
    kpoll_event *buffer = below(10) == 0 ? NULL : events;
    int timeout = below(4) == 0 ? -2 - (int)below(100) : (int)below(2);
    int rc = kpoll_wait(poller, buffer, capacity, timeout);
    int i;

    expect("kpoll_wait", rc, wait_errors);
    if (rc > (int)capacity)
        fail("kpoll_wait past its capacity", rc);
    for (i = 0; i < rc; i++) {
        const uint32_t bits = KPOLL_READABLE | KPOLL_WRITABLE |
            KPOLL_PRIORITY | KPOLL_ERROR | KPOLL_HANGUP;

        if (events[i].fd < 0 || (events[i].events & ~bits) != 0 ||
            events[i].events == 0)
            fail("kpoll_wait event", events[i].fd);
    }
}

static void one_call(void)
{
    struct kpoll *poller = any_poller();
    kpoll_stats stats;
    const char *text;
    int rc;

    switch (below(16)) {
    case 0:
        replace_poller((int)below(POLLERS));
        break;
    case 1:
    case 2:
    case 3:
        rc = kpoll_register(poller, any_fd(), any_interest(), next());
        expect("kpoll_register", rc, ctl_errors);
        break;
    case 4:
    case 5:
        rc = kpoll_modify(poller, any_fd(), any_interest(), next());
        expect("kpoll_modify", rc, ctl_errors);
        break;
    case 6:
        rc = kpoll_deregister(poller, any_fd());
        expect("kpoll_deregister", rc, ctl_errors);
        break;
    case 7:
    case 8:
        check_wait();
        break;
    case 9:
        expect("kpoll_wake", kpoll_wake(poller), plain_errors);
        break;
    case 10:
        rc = kpoll_fd(poller);
        if (rc < 0 && rc != -EINVAL && rc != -ENOTSUP)
            fail("kpoll_fd", rc);
        calls++;
        rc = (int)kpoll_backend_of(poller);
        if (rc < 0 || rc > 5 || (poller == NULL && rc != 0))
            fail("kpoll_backend_of", rc);
        calls++;
        break;
    case 11:
        rc = kpoll_get_stats(poller, below(4) == 0 ? NULL : &stats);
        expect("kpoll_get_stats", rc, plain_errors);
        break;
    case 12:
        rc = kpoll_backend_supported(any_backend());
        if (rc != 0 && rc != 1)
            fail("kpoll_backend_supported", rc);
        text = kpoll_backend_name(any_backend());
        if (text != NULL && strlen(text) == 0)
            fail("kpoll_backend_name gave an empty name for", 0);
        calls += 2;
        break;
    case 13:
        text = kpoll_strerror(below(2) ? -(int)below(200) : (int)next());
        if (text == NULL || strlen(text) == 0)
            fail("kpoll_strerror", 0);
        if (kpoll_version() >> 16 != KPOLL_VERSION_MAJOR ||
            kpoll_version_string() == NULL)
            fail("kpoll_version", (long)kpoll_version());
        calls += 3;
        break;
    case 14:
        /* Make the pair readable or writable-blocked, or close it. */
        if (below(4) == 0) {
            reopen((int)below(PAIRS));
        } else if (write(ends[below(PAIRS)][below(2)], "x", 1) < 0 &&
                   errno != EAGAIN) {
            perror("write");
        }
        break;
    default:
        kpoll_free(NULL);
        calls++;
        break;
    }
}

int main(int argc, char **argv)
{
    unsigned long count = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    unsigned long i;
    int slot, pair;

    rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x6b706f6c6cull;
    for (pair = 0; pair < PAIRS; pair++) {
        ends[pair][0] = ends[pair][1] = -1;
        reopen(pair);
    }
    for (slot = 0; slot < POLLERS; slot++) {
        if (kpoll_new((kpoll_backend)(slot % 2 ? KPOLL_BACKEND_POLL :
                                      KPOLL_BACKEND_AUTO),
                      &pollers[slot]) != 0) {
            fprintf(stderr, "random_args: kpoll_new failed\n");
            return 2;
        }
    }

    for (i = 0; i < count; i++)
        one_call();

    for (slot = 0; slot < POLLERS; slot++)
        kpoll_free(pollers[slot]);
    for (pair = 0; pair < PAIRS; pair++)
        reopen(pair);
    printf("random_args: %lu calls, %lu refused with an errno, "
           "%lu unexpected results\n", calls, errors_seen, failures);
    return failures == 0 ? 0 : 1;
}
