/*
 * Every function of kpoll.h, with every error path a caller can reach:
 * NULL pointers, unknown values and bits, bad fds, bad capacities and
 * timeouts, and the text and version functions.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* An fd number that is not open: one just closed. */
static int unopened_fd(void)
{
    int fds[2];

    if (pipe(fds) != 0)
        return 1000;
    close(fds[0]);
    close(fds[1]);
    return fds[1];
}

static void test_constants_have_the_documented_values(kpoll_backend backend)
{
    (void)backend;
    CHECK_EQ(KPOLL_BACKEND_AUTO, 0);
    CHECK_EQ(KPOLL_BACKEND_EPOLL, 1);
    CHECK_EQ(KPOLL_BACKEND_KQUEUE, 2);
    CHECK_EQ(KPOLL_BACKEND_DEVPOLL, 3);
    CHECK_EQ(KPOLL_BACKEND_POLL, 4);
    CHECK_EQ(KPOLL_BACKEND_SELECT, 5);
    CHECK_EQ(KPOLL_READABLE, 0x01);
    CHECK_EQ(KPOLL_WRITABLE, 0x02);
    CHECK_EQ(KPOLL_PRIORITY, 0x04);
    CHECK_EQ(KPOLL_ERROR, 0x08);
    CHECK_EQ(KPOLL_HANGUP, 0x10);
    CHECK_EQ(KPOLL_ONESHOT, 0x100);
    CHECK_EQ(KPOLL_EDGE, 0x200);
    /* The bit macros are unsigned, as uint32_t interest wants them. */
    CHECK(~KPOLL_READABLE > 0);
}

static void test_structs_have_the_documented_layout(kpoll_backend backend)
{
    (void)backend;
    CHECK_EQ(sizeof(kpoll_event), 16);
    CHECK_EQ(offsetof(kpoll_event, token), 0);
    CHECK_EQ(offsetof(kpoll_event, fd), 8);
    CHECK_EQ(offsetof(kpoll_event, events), 12);
    CHECK_EQ(sizeof(kpoll_stats), 40);
    CHECK_EQ(offsetof(kpoll_stats, registered), 0);
    CHECK_EQ(offsetof(kpoll_stats, fallback), 8);
    CHECK_EQ(offsetof(kpoll_stats, waits), 16);
    CHECK_EQ(offsetof(kpoll_stats, events), 24);
    CHECK_EQ(offsetof(kpoll_stats, wakes), 32);
}

static void test_new_rejects_null_out(kpoll_backend backend)
{
    (void)backend;
    CHECK_EQ(kpoll_new(KPOLL_BACKEND_AUTO, NULL), -EINVAL);
    CHECK_EQ(kpoll_new(KPOLL_BACKEND_POLL, NULL), -EINVAL);
}

static void test_new_rejects_unknown_backends(kpoll_backend backend)
{
    kpoll *poller = open_poller(KPOLL_BACKEND_POLL);
    kpoll *kept = poller;

    (void)backend;
    REQUIRE(poller != NULL);
    CHECK_EQ(kpoll_new(6, &poller), -EINVAL);
    CHECK(poller == NULL);
    CHECK_EQ(kpoll_new(0xffffffffu, &poller), -EINVAL);
    CHECK(poller == NULL);
    kpoll_free(kept);
}

static void test_new_gives_each_supported_backend(kpoll_backend backend)
{
    kpoll *poller;
    kpoll_backend b;

    (void)backend;
    for (b = KPOLL_BACKEND_EPOLL; b <= KPOLL_BACKEND_SELECT; b++) {
        int rc = kpoll_new(b, &poller);

        if (kpoll_backend_supported(b)) {
            CHECK_EQ(rc, 0);
            CHECK(poller != NULL);
            CHECK_EQ(kpoll_backend_of(poller), b);
            kpoll_free(poller);
        } else {
            CHECK_EQ(rc, -ENOTSUP);
            CHECK(poller == NULL);
        }
    }
}

static void test_auto_picks_a_concrete_backend(kpoll_backend backend)
{
    kpoll *poller = open_poller(KPOLL_BACKEND_AUTO);
    kpoll_backend chosen;

    (void)backend;
    REQUIRE(poller != NULL);
    chosen = kpoll_backend_of(poller);
    CHECK(chosen != KPOLL_BACKEND_AUTO);
    CHECK_EQ(kpoll_backend_supported(chosen), 1);
#ifdef __linux__
    CHECK_EQ(chosen, KPOLL_BACKEND_EPOLL);
#endif
    kpoll_free(poller);
}

static void test_null_poller_is_einval_and_free_a_no_op(kpoll_backend backend)
{
    kpoll_event ev[1];
    kpoll_stats stats;

    (void)backend;
    CHECK_EQ(kpoll_register(NULL, 0, KPOLL_READABLE, 0), -EINVAL);
    CHECK_EQ(kpoll_register(NULL, -1, 0x400, 0), -EINVAL);
    CHECK_EQ(kpoll_modify(NULL, 0, KPOLL_READABLE, 0), -EINVAL);
    CHECK_EQ(kpoll_deregister(NULL, 0), -EINVAL);
    CHECK_EQ(kpoll_wait(NULL, ev, 1, 0), -EINVAL);
    CHECK_EQ(kpoll_wake(NULL), -EINVAL);
    CHECK_EQ(kpoll_fd(NULL), -EINVAL);
    CHECK_EQ(kpoll_get_stats(NULL, &stats), -EINVAL);
    CHECK_EQ(kpoll_backend_of(NULL), KPOLL_BACKEND_AUTO);
    kpoll_free(NULL);
}

static void test_bad_fds_are_ebadf(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    int closed = unopened_fd();

    REQUIRE(poller != NULL);
    CHECK_EQ(kpoll_register(poller, -1, KPOLL_READABLE, 0), -EBADF);
    CHECK_EQ(kpoll_register(poller, INT_MIN, KPOLL_READABLE, 0), -EBADF);
    CHECK_EQ(kpoll_register(poller, closed, KPOLL_READABLE, 0), -EBADF);
    CHECK_EQ(kpoll_modify(poller, -1, KPOLL_READABLE, 0), -EBADF);
    CHECK_EQ(kpoll_deregister(poller, -1), -EBADF);

    /* A refused fd is not registered. */
    CHECK_EQ(kpoll_deregister(poller, closed), -ENOENT);
    kpoll_free(poller);
}

static void test_unknown_interest_bits_are_einval(kpoll_backend backend)
{
    static const uint32_t bad[] = {
        KPOLL_ERROR, KPOLL_HANGUP, 0x20u, 0x400u, 0x80000000u,
        KPOLL_READABLE | KPOLL_ERROR,
    };
    kpoll *poller = open_poller(backend);
    int sv[2];
    size_t i;

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(kpoll_register(poller, sv[0], bad[i], 1), -EINVAL);

    /* Nothing was registered, and a refused modify changes nothing. */
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), 0);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(kpoll_modify(poller, sv[0], bad[i], 2), -EINVAL);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), 0);

    close_pair(sv);
    kpoll_free(poller);
}

static void test_wait_checks_its_arguments(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[1];

    REQUIRE(poller != NULL);
    CHECK_EQ(kpoll_wait(poller, NULL, 1, 0), -EINVAL);
    CHECK_EQ(kpoll_wait(poller, ev, 0, 0), -EINVAL);
    CHECK_EQ(kpoll_wait(poller, NULL, 0, 0), -EINVAL);
    CHECK_EQ(kpoll_wait(poller, ev, 1, -2), -EINVAL);
    CHECK_EQ(kpoll_wait(poller, ev, 1, INT_MIN), -EINVAL);
    CHECK_EQ(kpoll_wait(poller, ev, 1, 0), 0);
    kpoll_free(poller);
}

static void test_wait_writes_only_the_events_it_returns(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[4];
    int sv[2], n;

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    memset(ev, 0xab, sizeof ev);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_WRITABLE, 77), 0);

    n = kpoll_wait(poller, ev, 4, 1000);
    CHECK_EQ(n, 1);
    CHECK_EQ(ev[0].token, 77);
    CHECK_EQ(ev[0].fd, sv[0]);
    CHECK(ev[0].events & KPOLL_WRITABLE);
    CHECK_EQ(ev[1].fd, (int32_t)0xabababab);
    CHECK_EQ(ev[3].events, 0xababababu);

    close_pair(sv);
    kpoll_free(poller);
}

static void test_fd_is_given_by_kernel_backends_only(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    int fd;

    REQUIRE(poller != NULL);
    fd = kpoll_fd(poller);
    if (backend == KPOLL_BACKEND_POLL || backend == KPOLL_BACKEND_SELECT) {
        CHECK_EQ(fd, -ENOTSUP);
    } else {
        CHECK(fd >= 0);
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        CHECK_EQ(kpoll_fd(poller), fd);
    }
    kpoll_free(poller);
}

static void test_backend_supported_answers_one_or_zero(kpoll_backend backend)
{
    (void)backend;
    CHECK_EQ(kpoll_backend_supported(KPOLL_BACKEND_AUTO), 1);
    CHECK_EQ(kpoll_backend_supported(KPOLL_BACKEND_POLL), 1);
    CHECK_EQ(kpoll_backend_supported(KPOLL_BACKEND_SELECT), 1);
    CHECK_EQ(kpoll_backend_supported(6), 0);
    CHECK_EQ(kpoll_backend_supported(0xffffffffu), 0);
#ifdef __linux__
    CHECK_EQ(kpoll_backend_supported(KPOLL_BACKEND_EPOLL), 1);
    CHECK_EQ(kpoll_backend_supported(KPOLL_BACKEND_KQUEUE), 0);
    CHECK_EQ(kpoll_backend_supported(KPOLL_BACKEND_DEVPOLL), 0);
#endif
}

static void test_backend_names_are_the_documented_ones(kpoll_backend backend)
{
    static const char *const names[] = {
        "auto", "epoll", "kqueue", "devpoll", "poll", "select",
    };
    kpoll_backend b;

    (void)backend;
    for (b = KPOLL_BACKEND_AUTO; b <= KPOLL_BACKEND_SELECT; b++) {
        const char *name = kpoll_backend_name(b);

        REQUIRE(name != NULL);
        CHECK(strcmp(name, names[b]) == 0);
    }
    CHECK(kpoll_backend_name(6) == NULL);
    CHECK(kpoll_backend_name(0xffffffffu) == NULL);
}

static void test_stats_count_what_the_poller_did(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_stats stats;
    kpoll_event ev[4];
    int a[2], b[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(a) == 0);
    REQUIRE(make_pair(b) == 0);
    CHECK_EQ(kpoll_get_stats(poller, NULL), -EINVAL);
    CHECK_EQ(kpoll_get_stats(poller, &stats), 0);
    CHECK_EQ(stats.registered, 0);
    CHECK_EQ(stats.waits, 0);
    CHECK_EQ(stats.events, 0);
    CHECK_EQ(stats.wakes, 0);
    CHECK_EQ(stats.fallback, 0);

    CHECK_EQ(kpoll_register(poller, a[0], KPOLL_WRITABLE, 1), 0);
    CHECK_EQ(kpoll_register(poller, b[0], KPOLL_READABLE, 2), 0);
    CHECK_EQ(kpoll_wait(poller, ev, 4, 1000), 1);
    CHECK_EQ(kpoll_wake(poller), 0);
    CHECK_EQ(kpoll_wait(poller, ev, 0, 0), -EINVAL);
    CHECK_EQ(kpoll_deregister(poller, a[0]), 0);
    CHECK_EQ(kpoll_wait(poller, ev, 4, 1000), 0);

    CHECK_EQ(kpoll_get_stats(poller, &stats), 0);
    CHECK_EQ(stats.registered, 1);
    CHECK_EQ(stats.fallback, 0);
    CHECK_EQ(stats.waits, 2);
    CHECK_EQ(stats.events, 1);
    CHECK_EQ(stats.wakes, 1);

    close_pair(a);
    close_pair(b);
    kpoll_free(poller);
}

static void test_strerror_has_text_for_every_value(kpoll_backend backend)
{
    static const int values[] = { 0, 1, 42, INT_MAX, INT_MIN, -4096, -5000 };
    size_t i;
    int e;

    (void)backend;
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *text = kpoll_strerror(values[i]);

        REQUIRE(text != NULL);
        CHECK(text[0] != '\0');
    }
    for (e = 1; e <= 4095; e++) {
        const char *text = kpoll_strerror(-e);

        REQUIRE(text != NULL);
        CHECK(text[0] != '\0');
    }
    CHECK(strcmp(kpoll_strerror(-EEXIST), kpoll_strerror(-ENOENT)) != 0);
    CHECK(strcmp(kpoll_strerror(-EINVAL), kpoll_strerror(0)) != 0);
    CHECK(strcmp(kpoll_strerror(-ENOTRECOVERABLE), kpoll_strerror(0)) != 0);
    CHECK(strstr(kpoll_strerror(-EEXIST), "registered") != NULL);

    /* The text is static: the same pointer every time. */
    CHECK(kpoll_strerror(-ENOMEM) == kpoll_strerror(-ENOMEM));
    CHECK(kpoll_strerror(-EBUSY) == kpoll_strerror(-EBUSY));
}

static void test_version_matches_the_macros(kpoll_backend backend)
{
    char want[64];
    uint32_t v = kpoll_version();

    (void)backend;
    CHECK_EQ(v >> 16, KPOLL_VERSION_MAJOR);
    CHECK_EQ((v >> 8) & 0xff, KPOLL_VERSION_MINOR);
    CHECK_EQ(v & 0xff, KPOLL_VERSION_PATCH);
    snprintf(want, sizeof want, "%u.%u.%u", (unsigned)KPOLL_VERSION_MAJOR,
             (unsigned)KPOLL_VERSION_MINOR, (unsigned)KPOLL_VERSION_PATCH);
    REQUIRE(kpoll_version_string() != NULL);
    CHECK(strcmp(kpoll_version_string(), want) == 0);
}

#define TEST(name, per_backend) { #name, test_##name, per_backend }

const struct test_case api_tests[] = {
    TEST(constants_have_the_documented_values, 0),
    TEST(structs_have_the_documented_layout, 0),
    TEST(new_rejects_null_out, 0),
    TEST(new_rejects_unknown_backends, 0),
    TEST(new_gives_each_supported_backend, 0),
    TEST(auto_picks_a_concrete_backend, 0),
    TEST(null_poller_is_einval_and_free_a_no_op, 0),
    TEST(bad_fds_are_ebadf, 1),
    TEST(unknown_interest_bits_are_einval, 1),
    TEST(wait_checks_its_arguments, 1),
    TEST(wait_writes_only_the_events_it_returns, 1),
    TEST(fd_is_given_by_kernel_backends_only, 1),
    TEST(backend_supported_answers_one_or_zero, 0),
    TEST(backend_names_are_the_documented_ones, 0),
    TEST(stats_count_what_the_poller_did, 1),
    TEST(strerror_has_text_for_every_value, 0),
    TEST(version_matches_the_macros, 0),
    { NULL, NULL, 0 },
};
