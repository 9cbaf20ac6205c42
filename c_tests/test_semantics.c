/*
 * The semantics table of DESIGN.md, row by row, on every backend this OS
 * supports: registration, level, oneshot, edge, interest 0, error and
 * hangup, merging, fairness, wake, signals, timeout, threads, deregister,
 * closed fds, regular files, large fds, backend choice and fork.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define CAP 16

static int has_edge(kpoll_backend backend)
{
    return backend == KPOLL_BACKEND_EPOLL || backend == KPOLL_BACKEND_KQUEUE;
}

static int has_own_fd(kpoll_backend backend)
{
    return backend != KPOLL_BACKEND_POLL && backend != KPOLL_BACKEND_SELECT;
}

static void sleep_ms(int ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void put_byte(int fd)
{
    CHECK_EQ(write(fd, "x", 1), 1);
}

static void test_registration_is_one_per_fd(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    CHECK_EQ(kpoll_modify(poller, sv[0], KPOLL_READABLE, 1), -ENOENT);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), -ENOENT);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), 0);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), -EEXIST);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_WRITABLE, 2), -EEXIST);
    CHECK_EQ(kpoll_modify(poller, sv[0], KPOLL_WRITABLE, 2), 0);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), 0);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), -ENOENT);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 3), 0);

    close_pair(sv);
    kpoll_free(poller);
}

static void test_level_reports_on_every_wait(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    char c;
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    put_byte(sv[1]);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 9), 0);

    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].token, 9);
    CHECK_EQ(ev[0].fd, sv[0]);
    CHECK_EQ(ev[0].events, KPOLL_READABLE);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 1);

    /* Drained, it is no longer reported. */
    CHECK_EQ(read(sv[0], &c, 1), 1);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);

    close_pair(sv);
    kpoll_free(poller);
}

static void test_oneshot_reports_once_until_modify(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    put_byte(sv[1]);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE | KPOLL_ONESHOT, 5),
             0);

    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].token, 5);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20), 0);

    /* Disarmed, but still registered; modify re-arms it. */
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 5), -EEXIST);
    CHECK_EQ(kpoll_modify(poller, sv[0], KPOLL_READABLE | KPOLL_ONESHOT, 6),
             0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].token, 6);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);

    close_pair(sv);
    kpoll_free(poller);
}

static void test_edge_reports_changes_or_is_refused(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    if (!has_edge(backend)) {
        CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE | KPOLL_EDGE, 1),
                 -ENOTSUP);
        CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), 0);
        CHECK_EQ(kpoll_modify(poller, sv[0], KPOLL_READABLE | KPOLL_EDGE, 1),
                 -ENOTSUP);
        close_pair(sv);
        kpoll_free(poller);
        return;
    }

    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE | KPOLL_EDGE, 1), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);
    put_byte(sv[1]);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);

    /* Still readable, but nothing changed. */
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);
    put_byte(sv[1]);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].events & KPOLL_READABLE, KPOLL_READABLE);

    close_pair(sv);
    kpoll_free(poller);
}

static void test_empty_interest_registers_disarmed(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    put_byte(sv[1]);
    CHECK_EQ(kpoll_register(poller, sv[0], 0, 1), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20), 0);
    CHECK_EQ(kpoll_register(poller, sv[0], 0, 1), -EEXIST);

    CHECK_EQ(kpoll_modify(poller, sv[0], KPOLL_READABLE, 2), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].token, 2);

    /* Disarming again silences it, hangup included. */
    CHECK_EQ(kpoll_modify(poller, sv[0], 0, 3), 0);
    close(sv[1]);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20), 0);

    close(sv[0]);
    kpoll_free(poller);
}

static void test_hangup_is_reported_unasked(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), 0);
    close(sv[1]);

    REQUIRE(kpoll_wait(poller, ev, CAP, 1000) == 1);
    CHECK(ev[0].events & KPOLL_READABLE);
    if (backend == KPOLL_BACKEND_SELECT)
        CHECK_EQ(ev[0].events & KPOLL_HANGUP, 0);
    else
        CHECK_EQ(ev[0].events & KPOLL_HANGUP, KPOLL_HANGUP);

    close(sv[0]);
    kpoll_free(poller);
}

static void test_error_is_reported_unasked(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int p[2];

    REQUIRE(poller != NULL);
    REQUIRE(pipe(p) == 0);
    CHECK_EQ(kpoll_register(poller, p[1], KPOLL_WRITABLE, 1), 0);

    /* A pipe whose reader is gone has an error pending for its writer. */
    close(p[0]);
    REQUIRE(kpoll_wait(poller, ev, CAP, 1000) == 1);
    CHECK_EQ(ev[0].fd, p[1]);
    if (backend == KPOLL_BACKEND_SELECT)
        CHECK(ev[0].events & (KPOLL_WRITABLE | KPOLL_ERROR));
    else
        CHECK_EQ(ev[0].events & KPOLL_ERROR, KPOLL_ERROR);

    close(p[1]);
    kpoll_free(poller);
}

static void test_merging_gives_one_event_per_fd(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    put_byte(sv[1]);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE | KPOLL_WRITABLE, 4),
             0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].events, KPOLL_READABLE | KPOLL_WRITABLE);

    close_pair(sv);
    kpoll_free(poller);
}

#define FAIR_FDS 10
#define FAIR_CAP 3

static void test_fairness_reaches_every_ready_fd(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[FAIR_CAP];
    int pairs[FAIR_FDS][2], seen[FAIR_FDS] = { 0 };
    int i, round, count = 0;

    REQUIRE(poller != NULL);
    for (i = 0; i < FAIR_FDS; i++) {
        REQUIRE(make_pair(pairs[i]) == 0);
        CHECK_EQ(kpoll_register(poller, pairs[i][0], KPOLL_WRITABLE,
                                (uint64_t)i), 0);
    }

    /* ceil(10 / 3) = 4 waits reach all of them. */
    for (round = 0; round < (FAIR_FDS + FAIR_CAP - 1) / FAIR_CAP; round++) {
        int n = kpoll_wait(poller, ev, FAIR_CAP, 1000);

        CHECK_EQ(n, FAIR_CAP);
        for (i = 0; i < n; i++) {
            if (ev[i].token < FAIR_FDS && !seen[ev[i].token]++)
                count++;
        }
    }
    CHECK_EQ(count, FAIR_FDS);

    for (i = 0; i < FAIR_FDS; i++)
        close_pair(pairs[i]);
    kpoll_free(poller);
}

static void test_wakes_before_a_wait_collapse(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    double start;

    REQUIRE(poller != NULL);
    CHECK_EQ(kpoll_wake(poller), 0);
    CHECK_EQ(kpoll_wake(poller), 0);
    CHECK_EQ(kpoll_wake(poller), 0);

    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, -1), 0);
    CHECK(now_ms() - start < 5000);

    /* The three were one: the next wait runs to its timeout. */
    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 100), 0);
    CHECK(now_ms() - start >= 99);

    kpoll_free(poller);
}

struct later {
    kpoll *poller;
    int delay_ms;
    int fd;              /* for register and modify */
    int result;
};

static void *wake_later(void *arg)
{
    struct later *job = (struct later *)arg;

    sleep_ms(job->delay_ms);
    job->result = kpoll_wake(job->poller);
    return NULL;
}

static void test_wake_ends_a_wait_in_another_thread(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    struct later job;
    pthread_t thread;
    double start;

    REQUIRE(poller != NULL);
    job.poller = poller;
    job.delay_ms = 50;
    job.result = 1;
    REQUIRE(pthread_create(&thread, NULL, wake_later, &job) == 0);

    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20000), 0);
    CHECK(now_ms() - start < 10000);
    pthread_join(thread, NULL);
    CHECK_EQ(job.result, 0);

    kpoll_free(poller);
}

static kpoll *signal_poller;
static volatile sig_atomic_t signal_wake_result = 1;

static void wake_from_handler(int sig)
{
    (void)sig;
    signal_wake_result = kpoll_wake(signal_poller);
}

static void ignore_signal(int sig)
{
    (void)sig;
}

/* Sends SIGALRM after first_ms, then every every_ms (0: once). */
static void arm_alarm(void (*handler)(int), int first_ms, int every_ms)
{
    struct sigaction sa;
    struct itimerval timer;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;   /* no SA_RESTART: the wait sees EINTR */
    sigaction(SIGALRM, &sa, NULL);

    memset(&timer, 0, sizeof timer);
    timer.it_value.tv_sec = first_ms / 1000;
    timer.it_value.tv_usec = (first_ms % 1000) * 1000;
    timer.it_interval.tv_sec = every_ms / 1000;
    timer.it_interval.tv_usec = (every_ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &timer, NULL);
}

static void disarm_alarm(void)
{
    struct itimerval timer;

    memset(&timer, 0, sizeof timer);
    setitimer(ITIMER_REAL, &timer, NULL);
    signal(SIGALRM, SIG_DFL);
}

static void test_wake_works_from_a_signal_handler(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    double start;

    REQUIRE(poller != NULL);
    signal_poller = poller;
    signal_wake_result = 1;
    arm_alarm(wake_from_handler, 50, 0);

    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20000), 0);
    CHECK(now_ms() - start < 10000);
    CHECK_EQ(signal_wake_result, 0);

    disarm_alarm();
    kpoll_free(poller);
}

static void test_signals_do_not_cut_a_wait_short(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    double start;
    int rc;

    REQUIRE(poller != NULL);
    arm_alarm(ignore_signal, 10, 10);
    start = now_ms();
    rc = kpoll_wait(poller, ev, CAP, 200);
    disarm_alarm();

    CHECK_EQ(rc, 0);
    CHECK(now_ms() - start >= 199);
    kpoll_free(poller);
}

static void test_timeouts_zero_and_positive(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    double start;

    REQUIRE(poller != NULL);
    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);
    CHECK(now_ms() - start < 1000);

    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 60), 0);
    CHECK(now_ms() - start >= 59);
    CHECK(now_ms() - start < 10000);

    kpoll_free(poller);
}

static void *register_later(void *arg)
{
    struct later *job = (struct later *)arg;

    sleep_ms(job->delay_ms);
    job->result = kpoll_register(job->poller, job->fd, KPOLL_WRITABLE, 11);
    return NULL;
}

static void *modify_later(void *arg)
{
    struct later *job = (struct later *)arg;

    sleep_ms(job->delay_ms);
    job->result = kpoll_modify(job->poller, job->fd, KPOLL_WRITABLE, 12);
    return NULL;
}

static void test_changes_from_other_threads_reach_the_wait(
    kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    struct later job;
    pthread_t thread;
    double start;
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    job.poller = poller;
    job.delay_ms = 50;
    job.fd = sv[0];
    job.result = 1;

    /* A register made while the wait blocks. */
    REQUIRE(pthread_create(&thread, NULL, register_later, &job) == 0);
    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20000), 1);
    CHECK(now_ms() - start < 10000);
    pthread_join(thread, NULL);
    CHECK_EQ(job.result, 0);
    CHECK_EQ(ev[0].token, 11);

    /* A modify that arms a disarmed fd. */
    CHECK_EQ(kpoll_modify(poller, sv[0], 0, 0), 0);
    job.result = 1;
    REQUIRE(pthread_create(&thread, NULL, modify_later, &job) == 0);
    start = now_ms();
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20000), 1);
    CHECK(now_ms() - start < 10000);
    pthread_join(thread, NULL);
    CHECK_EQ(job.result, 0);
    CHECK_EQ(ev[0].token, 12);

    close_pair(sv);
    kpoll_free(poller);
}

static void *wait_until_woken(void *arg)
{
    struct later *job = (struct later *)arg;
    kpoll_event ev[CAP];

    do
        job->result = kpoll_wait(job->poller, ev, CAP, -1);
    while (job->result == -EBUSY);
    return NULL;
}

static void test_a_second_waiter_gets_ebusy(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    struct later job;
    pthread_t thread;
    int tries, rc = 0;

    REQUIRE(poller != NULL);
    job.poller = poller;
    job.result = 1;
    REQUIRE(pthread_create(&thread, NULL, wait_until_woken, &job) == 0);

    /* Once the thread is inside its wait, this one is refused. */
    for (tries = 0; tries < 500; tries++) {
        rc = kpoll_wait(poller, ev, CAP, 0);
        if (rc == -EBUSY)
            break;
        sleep_ms(10);
    }
    CHECK_EQ(rc, -EBUSY);

    CHECK_EQ(kpoll_wake(poller), 0);
    pthread_join(thread, NULL);
    CHECK_EQ(job.result, 0);
    kpoll_free(poller);
}

#define CHURN_ROUNDS 200

struct churn {
    kpoll *poller;
    int errors;
};

/* Registers, re-arms and forgets a pair of its own, over and over. */
static void *churn_registrations(void *arg)
{
    struct churn *job = (struct churn *)arg;
    int sv[2], i;

    if (make_pair(sv) != 0) {
        job->errors++;
        return NULL;
    }
    for (i = 0; i < CHURN_ROUNDS; i++) {
        job->errors += kpoll_register(job->poller, sv[0], KPOLL_WRITABLE,
                                      (uint64_t)sv[0]) != 0;
        job->errors += kpoll_modify(job->poller, sv[0],
                                    KPOLL_WRITABLE | KPOLL_ONESHOT,
                                    (uint64_t)sv[0]) != 0;
        job->errors += kpoll_wake(job->poller) != 0;
        job->errors += kpoll_deregister(job->poller, sv[0]) != 0;
    }
    close_pair(sv);
    return NULL;
}

static void test_calls_from_many_threads_at_once(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    struct churn jobs[3];
    pthread_t threads[3];
    kpoll_event ev[CAP];
    kpoll_stats stats;
    int i, n, bad = 0;

    REQUIRE(poller != NULL);
    for (i = 0; i < 3; i++) {
        jobs[i].poller = poller;
        jobs[i].errors = 0;
        REQUIRE(pthread_create(&threads[i], NULL, churn_registrations,
                               &jobs[i]) == 0);
    }

    /* Wait throughout; every event must name a real fd. */
    for (i = 0; i < 3 * CHURN_ROUNDS; i++) {
        n = kpoll_wait(poller, ev, CAP, 1);
        if (n < 0 || (n > 0 && ev[0].fd < 0))
            bad++;
    }
    for (i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        CHECK_EQ(jobs[i].errors, 0);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(kpoll_get_stats(poller, &stats), 0);
    CHECK_EQ(stats.registered, 0);
    kpoll_free(poller);
}

static void test_deregister_stops_reports(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_WRITABLE, 1), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20), 0);

    close_pair(sv);
    kpoll_free(poller);
}

static void test_deregister_forgets_a_closed_fd(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    kpoll_stats stats;
    int sv[2];

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), 0);
    close(sv[0]);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), 0);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), -ENOENT);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);
    CHECK_EQ(kpoll_get_stats(poller, &stats), 0);
    CHECK_EQ(stats.registered, 0);

    close(sv[1]);
    kpoll_free(poller);
}

static void test_a_closed_registered_fd_does_no_harm(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2], n, i;

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), 0);
    close(sv[0]);

    /* poll and select report it as an error; epoll drops it silently. */
    for (i = 0; i < 3; i++) {
        n = kpoll_wait(poller, ev, CAP, 20);
        if (has_own_fd(backend)) {
            CHECK_EQ(n, 0);
        } else {
            REQUIRE(n == 1);
            CHECK_EQ(ev[0].fd, sv[0]);
            CHECK_EQ(ev[0].events & KPOLL_ERROR, KPOLL_ERROR);
        }
    }
    CHECK_EQ(kpoll_deregister(poller, sv[0]), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);

    close(sv[1]);
    kpoll_free(poller);
}

static void test_regular_files_are_served_as_poll_would(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    char path[] = "/tmp/kpoll-c-test-XXXXXX";
    kpoll_event ev[CAP];
    kpoll_stats stats;
    int fd;

    REQUIRE(poller != NULL);
    fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);

    CHECK_EQ(kpoll_register(poller, fd, KPOLL_READABLE | KPOLL_WRITABLE, 3),
             0);
    CHECK_EQ(kpoll_get_stats(poller, &stats), 0);
    CHECK_EQ(stats.fallback, backend == KPOLL_BACKEND_EPOLL ? 1 : 0);

    /* Level: every wait. */
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].events, KPOLL_READABLE | KPOLL_WRITABLE);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);

    /* Oneshot: once per modify. */
    CHECK_EQ(kpoll_modify(poller, fd, KPOLL_READABLE | KPOLL_ONESHOT, 4), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);
    CHECK_EQ(ev[0].token, 4);
    CHECK_EQ(ev[0].events, KPOLL_READABLE);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 20), 0);
    CHECK_EQ(kpoll_modify(poller, fd, KPOLL_READABLE | KPOLL_ONESHOT, 5), 0);
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);

    CHECK_EQ(kpoll_deregister(poller, fd), 0);
    CHECK_EQ(kpoll_get_stats(poller, &stats), 0);
    CHECK_EQ(stats.fallback, 0);

    close(fd);
    kpoll_free(poller);
}

static void test_fds_at_and_above_fd_setsize_work(kpoll_backend backend)
{
    static const int lows[] = { FD_SETSIZE - 1, FD_SETSIZE, 1500 };
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2], big[3], i, n;

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    put_byte(sv[1]);
    for (i = 0; i < 3; i++) {
        big[i] = fcntl(sv[0], F_DUPFD_CLOEXEC, lows[i]);
        REQUIRE(big[i] >= lows[i]);
        CHECK_EQ(kpoll_register(poller, big[i], KPOLL_READABLE,
                                (uint64_t)big[i]), 0);
    }

    n = kpoll_wait(poller, ev, CAP, 1000);
    CHECK_EQ(n, 3);
    for (i = 0; i < 3; i++) {
        int at = find_event(ev, n, big[i]);

        CHECK(at >= 0);
        if (at >= 0)
            CHECK_EQ(ev[at].token, big[i]);
    }

    for (i = 0; i < 3; i++)
        close(big[i]);
    close_pair(sv);
    kpoll_free(poller);
}

static void test_priority_data_is_reported(kpoll_backend backend)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int listener, client, server, rc;

    REQUIRE(poller != NULL);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    REQUIRE(bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0);
    REQUIRE(listen(listener, 1) == 0);
    REQUIRE(getsockname(listener, (struct sockaddr *)&addr, &len) == 0);
    client = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(connect(client, (struct sockaddr *)&addr, sizeof addr) == 0);
    server = accept(listener, NULL, NULL);
    REQUIRE(server >= 0);

    rc = kpoll_register(poller, server, KPOLL_PRIORITY, 8);
    if (backend == KPOLL_BACKEND_KQUEUE) {
        CHECK_EQ(rc, -ENOTSUP);
    } else {
        CHECK_EQ(rc, 0);
        CHECK_EQ(kpoll_wait(poller, ev, CAP, 0), 0);
        CHECK_EQ(send(client, "!", 1, MSG_OOB), 1);
        REQUIRE(kpoll_wait(poller, ev, CAP, 2000) == 1);
        CHECK_EQ(ev[0].events & KPOLL_PRIORITY, KPOLL_PRIORITY);
    }

    close(server);
    close(client);
    close(listener);
    kpoll_free(poller);
}

static void test_kpoll_fd_is_readable_when_events_wait(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    char path[] = "/tmp/kpoll-c-test-XXXXXX";
    struct pollfd pfd;
    int sv[2], file;

    REQUIRE(poller != NULL);
    if (!has_own_fd(backend)) {
        CHECK_EQ(kpoll_fd(poller), -ENOTSUP);
        kpoll_free(poller);
        return;
    }
    REQUIRE(make_pair(sv) == 0);
    pfd.fd = kpoll_fd(poller);
    pfd.events = POLLIN;
    CHECK_EQ(poll(&pfd, 1, 0), 0);

    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_READABLE, 1), 0);
    put_byte(sv[1]);
    CHECK_EQ(poll(&pfd, 1, 2000), 1);
    CHECK(pfd.revents & POLLIN);
    close_pair(sv);
    CHECK_EQ(kpoll_deregister(poller, sv[0]), 0);
    CHECK_EQ(poll(&pfd, 1, 0), 0);

    /* Also for a file that the kernel poll refuses and the fallback serves. */
    file = mkstemp(path);
    REQUIRE(file >= 0);
    unlink(path);
    CHECK_EQ(kpoll_register(poller, file, KPOLL_READABLE, 2), 0);
    CHECK_EQ(poll(&pfd, 1, 2000), 1);
    CHECK(pfd.revents & POLLIN);

    close(file);
    kpoll_free(poller);
}

/* What kpoll_new(AUTO) gives in a fresh process with KPOLL_BACKEND set. */
static int auto_backend_with(const char *value)
{
    int status = -1;
    pid_t child = fork();

    if (child == 0) {
        setenv("KPOLL_BACKEND", value, 1);
        execl(test_program, test_program, AUTO_BACKEND_PROBE, (char *)NULL);
        _exit(254);
    }
    if (child < 0 || waitpid(child, &status, 0) != child)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_kpoll_backend_overrides_auto(kpoll_backend backend)
{
    (void)backend;
    CHECK_EQ(auto_backend_with("poll"), KPOLL_BACKEND_POLL);
    CHECK_EQ(auto_backend_with("select"), KPOLL_BACKEND_SELECT);
    CHECK_EQ(auto_backend_with("no-such-backend"), 100 + EINVAL);
#ifdef __linux__
    CHECK_EQ(auto_backend_with("epoll"), KPOLL_BACKEND_EPOLL);
    CHECK_EQ(auto_backend_with("kqueue"), 100 + ENOTSUP);
    CHECK_EQ(auto_backend_with("devpoll"), 100 + ENOTSUP);
#endif
}

static void test_a_child_after_fork_gets_eperm(kpoll_backend backend)
{
    kpoll *poller = open_poller(backend);
    kpoll_event ev[CAP];
    int sv[2], status = -1;
    pid_t child;

    REQUIRE(poller != NULL);
    REQUIRE(make_pair(sv) == 0);
    CHECK_EQ(kpoll_register(poller, sv[0], KPOLL_WRITABLE, 1), 0);

    child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int bad = 0;

        bad |= kpoll_wait(poller, ev, CAP, 0) != -EPERM;
        bad |= kpoll_register(poller, sv[1], KPOLL_READABLE, 2) != -EPERM;
        bad |= kpoll_modify(poller, sv[0], KPOLL_READABLE, 2) != -EPERM;
        bad |= kpoll_deregister(poller, sv[0]) != -EPERM;
        _exit(bad);
    }
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);

    /* The parent's poller is untouched. */
    CHECK_EQ(kpoll_wait(poller, ev, CAP, 1000), 1);

    close_pair(sv);
    kpoll_free(poller);
}

#define TEST(name) { #name, test_##name, 1 }

const struct test_case semantics_tests[] = {
    TEST(registration_is_one_per_fd),
    TEST(level_reports_on_every_wait),
    TEST(oneshot_reports_once_until_modify),
    TEST(edge_reports_changes_or_is_refused),
    TEST(empty_interest_registers_disarmed),
    TEST(hangup_is_reported_unasked),
    TEST(error_is_reported_unasked),
    TEST(merging_gives_one_event_per_fd),
    TEST(fairness_reaches_every_ready_fd),
    TEST(wakes_before_a_wait_collapse),
    TEST(wake_ends_a_wait_in_another_thread),
    TEST(wake_works_from_a_signal_handler),
    TEST(signals_do_not_cut_a_wait_short),
    TEST(timeouts_zero_and_positive),
    TEST(changes_from_other_threads_reach_the_wait),
    TEST(a_second_waiter_gets_ebusy),
    TEST(calls_from_many_threads_at_once),
    TEST(deregister_stops_reports),
    TEST(deregister_forgets_a_closed_fd),
    TEST(a_closed_registered_fd_does_no_harm),
    TEST(regular_files_are_served_as_poll_would),
    TEST(fds_at_and_above_fd_setsize_work),
    TEST(priority_data_is_reported),
    TEST(kpoll_fd_is_readable_when_events_wait),
    { "kpoll_backend_overrides_auto", test_kpoll_backend_overrides_auto, 0 },
    TEST(a_child_after_fork_gets_eperm),
    { NULL, NULL, 0 },
};
