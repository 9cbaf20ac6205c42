/*
 * Runs every test of api_tests and semantics_tests; the per-backend ones once
 * on each backend this OS supports. An argument runs only the tests whose
 * name contains it.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

int test_failures;
const char *test_program;

void check_failed(const char *file, int line, const char *expr)
{
    test_failures++;
    fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, expr);
}

void check_int_failed(const char *file, int line, const char *expr,
                      long long got, long long want)
{
    test_failures++;
    fprintf(stderr, "  %s:%d: check failed: %s (got %lld, want %lld)\n",
            file, line, expr, got, want);
}

double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

int make_pair(int sv[2])
{
    int i;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        check_failed(__FILE__, __LINE__, "socketpair");
        return -1;
    }
    for (i = 0; i < 2; i++) {
        fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK);
        fcntl(sv[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

void close_pair(int sv[2])
{
    close(sv[0]);
    close(sv[1]);
}

kpoll *open_poller(kpoll_backend backend)
{
    kpoll *poller = NULL;
    int rc = kpoll_new(backend, &poller);

    if (rc != 0) {
        check_int_failed(__FILE__, __LINE__, "kpoll_new", rc, 0);
        return NULL;
    }
    return poller;
}

int find_event(const kpoll_event *events, int n, int fd)
{
    int i;

    for (i = 0; i < n; i++) {
        if (events[i].fd == fd)
            return i;
    }
    return -1;
}

static int passed, failed;

static void run_one(const struct test_case *test, kpoll_backend backend)
{
    const char *where = test->per_backend ? kpoll_backend_name(backend) : "";

    test_failures = 0;
    test->fn(backend);
    if (test_failures == 0) {
        passed++;
        printf("ok   %s %s\n", test->name, where);
    } else {
        failed++;
        printf("FAIL %s %s\n", test->name, where);
    }
    fflush(stdout);
}

static void run_list(const struct test_case *tests, const char *filter)
{
    const struct test_case *test;
    kpoll_backend backend;

    for (test = tests; test->name != NULL; test++) {
        if (filter != NULL && strstr(test->name, filter) == NULL)
            continue;
        if (!test->per_backend) {
            run_one(test, KPOLL_BACKEND_AUTO);
            continue;
        }
        for (backend = KPOLL_BACKEND_EPOLL; backend <= KPOLL_BACKEND_SELECT;
             backend++) {
            if (kpoll_backend_supported(backend))
                run_one(test, backend);
        }
    }
}

/*
 * KPOLL_BACKEND is read once per process, so the tests of AUTO run this
 * program again with it set: the exit code is the backend kpoll_new(AUTO)
 * chose, or 100 plus the errno it failed with.
 */
static int probe_auto_backend(void)
{
    kpoll *poller;
    int rc = kpoll_new(KPOLL_BACKEND_AUTO, &poller);

    if (rc < 0)
        return poller == NULL && -rc < 150 ? 100 - rc : 255;
    rc = (int)kpoll_backend_of(poller);
    kpoll_free(poller);
    return rc;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;

    if (filter != NULL && strcmp(filter, AUTO_BACKEND_PROBE) == 0)
        return probe_auto_backend();
    test_program = argv[0];

    /* The backend tests pick their backend themselves. */
    unsetenv("KPOLL_BACKEND");

    run_list(api_tests, filter);
    run_list(semantics_tests, filter);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
