/*
 * A tiny test harness for the C tests: each test is a function that takes
 * the backend it runs on, CHECK records a failure and goes on, and the run
 * ends with "N passed, N failed".
 */
#ifndef KPOLL_TEST_HARNESS_H
#define KPOLL_TEST_HARNESS_H

#include <stdio.h>

#include "kpoll.h"

typedef void (*test_fn)(kpoll_backend backend);

struct test_case {
    const char *name;
    test_fn fn;
    int per_backend;   /* 1: run once per supported backend; 0: once */
};

/* argv[0], for tests that run the program again in a child. */
extern const char *test_program;

/* The argument that makes the program report kpoll_new(AUTO) and exit. */
#define AUTO_BACKEND_PROBE "--auto-backend"

/* Failures seen in the test now running. */
extern int test_failures;

void check_failed(const char *file, int line, const char *expr);
void check_int_failed(const char *file, int line, const char *expr,
                      long long got, long long want);

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond))                                                      \
            check_failed(__FILE__, __LINE__, #cond);                      \
    } while (0)

#define CHECK_EQ(got, want)                                               \
    do {                                                                  \
        long long got_ = (long long)(got);                                \
        long long want_ = (long long)(want);                              \
        if (got_ != want_)                                                \
            check_int_failed(__FILE__, __LINE__, #got " == " #want,      \
                             got_, want_);                                \
    } while (0)

/* Stops the current test when a step it depends on failed. */
#define REQUIRE(cond)                                                     \
    do {                                                                  \
        if (!(cond)) {                                                    \
            check_failed(__FILE__, __LINE__, #cond);                      \
            return;                                                       \
        }                                                                 \
    } while (0)

/* Helpers shared by the tests. */

/* Monotonic time in milliseconds. */
double now_ms(void);

/* A non-blocking AF_UNIX stream pair; 0 or -1 (a failure is recorded). */
int make_pair(int sv[2]);

/* Closes both ends of a pair. */
void close_pair(int sv[2]);

/* A new poller on this backend, or NULL (a failure is recorded). */
kpoll *open_poller(kpoll_backend backend);

/* The index of the event for fd among n events, or -1. */
int find_event(const kpoll_event *events, int n, int fd);

/* The tests of each file, ended by an entry with a NULL name. */
extern const struct test_case api_tests[];
extern const struct test_case semantics_tests[];

#endif
