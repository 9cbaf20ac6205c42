/*
 * The harness around every C loop: arguments, socketpairs, rounds, timing
 * and the one result line the Rust driver parses.
 */
#define _GNU_SOURCE
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void workload_on_readable(struct workload *w, int idx)
{
	char byte;
	int next;

	if (read(w->rd[idx], &byte, 1) == 1)
		w->count++;
	else
		w->failed = 1;

	if (w->writes_left == 0)
		return;

	next = idx + 1 == w->pairs ? 0 : idx + 1;
	if (write(w->wr[next], "e", 1) != 1)
		w->failed = 1;
	w->writes_left--;
	w->fired++;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* User plus system time of this process, in nanoseconds. */
static long long cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		       1000000000LL +
	       ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/* Bytes malloc has handed out: from its arenas and, for big blocks, mmap. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static long long median(long long *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_ll);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_samples(const char *key, const long long *v, int n)
{
	int i;

	printf(" %s=", key);
	for (i = 0; i < n; i++)
		printf(i ? ",%lld" : "%lld", v[i]);
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 1000000000L)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct workload *w)
{
	int opt;

	w->pairs = 100;
	w->active = 1;
	w->writes = 100;
	w->rounds = 25;
	w->method = "epoll";
	while ((opt = getopt(argc, argv, "n:a:w:r:m:")) != -1) {
		int bad = 0;

		switch (opt) {
		case 'n': bad = parse_int(optarg, &w->pairs); break;
		case 'a': bad = parse_int(optarg, &w->active); break;
		case 'w': bad = parse_int(optarg, &w->writes); break;
		case 'r': bad = parse_int(optarg, &w->rounds); break;
		case 'm': w->method = optarg; break;
		default: bad = -1;
		}
		if (bad)
			return -1;
	}
	if (w->pairs < 1 || w->active < 1 || w->active > w->pairs ||
	    w->rounds < 1)
		return -1;
	return 0;
}

static int open_pairs(struct workload *w)
{
	int i, sv[2];

	w->rd = calloc((size_t)w->pairs, sizeof(int));
	w->wr = calloc((size_t)w->pairs, sizeof(int));
	if (!w->rd || !w->wr)
		return -1;
	for (i = 0; i < w->pairs; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
					SOCK_CLOEXEC, 0, sv) < 0) {
			perror("socketpair");
			return -1;
		}
		w->rd[i] = sv[0];
		w->wr[i] = sv[1];
	}
	return 0;
}

static void close_pairs(struct workload *w)
{
	int i;

	for (i = 0; i < w->pairs; i++) {
		close(w->rd[i]);
		close(w->wr[i]);
	}
	free(w->rd);
	free(w->wr);
}

/* Times one round: seed A spread-out pairs, dispatch until all is read. */
static void run_round(struct workload *w, const struct loop_impl *impl,
		      long long *wall, long long *cpu)
{
	int i, space = w->pairs / w->active;
	long long t0, c0;

	w->count = 0;
	w->fired = 0;
	w->waits = 0;
	w->writes_left = w->writes;
	for (i = 0; i < w->active; i++) {
		if (write(w->wr[i * space], "e", 1) != 1)
			w->failed = 1;
		w->fired++;
	}

	c0 = cpu_ns();
	t0 = now_ns();
	impl->run(w);
	*wall = now_ns() - t0;
	*cpu = cpu_ns() - c0;
}

int workload_main(int argc, char **argv, const struct loop_impl *impl)
{
	struct workload w;
	long long *wall, *cpu;
	size_t heap_before, heap_after;
	long waits = 0;
	int i;

	/* A lost byte would hang the loop: let SIGALRM end the process. */
	alarm(120);

	memset(&w, 0, sizeof(w));
	if (parse_args(argc, argv, &w) < 0) {
		fprintf(stderr, "usage: %s [-n pairs] [-a active] [-w writes] "
				"[-r rounds] [-m epoll|poll|select]\n",
			argv[0]);
		return 2;
	}
	wall = calloc((size_t)w.rounds, sizeof(*wall));
	cpu = calloc((size_t)w.rounds, sizeof(*cpu));
	if (!wall || !cpu || open_pairs(&w) < 0)
		return 1;

	/* The loop's own heap per registration, as malloc sees it. */
	heap_before = heap_in_use();
	if (impl->setup(&w) < 0)
		return 1;
	heap_after = heap_in_use();

	/* One warm-up round, untimed, so that lazy allocations are done. */
	run_round(&w, impl, &wall[0], &cpu[0]);
	for (i = 0; i < w.rounds; i++) {
		run_round(&w, impl, &wall[i], &cpu[i]);
		waits += w.waits;
	}
	if (w.failed || w.count != w.fired) {
		fprintf(stderr, "%s: a read or write failed\n", impl->name);
		return 1;
	}

	/* Times, events and waits are per round. */
	printf("impl=%s method=%s n=%d active=%d writes=%d rounds=%d "
	       "events=%ld waits=%ld heap_per_fd=%.1f",
	       impl->name, w.method, w.pairs, w.active, w.writes, w.rounds,
	       w.count, waits / w.rounds,
	       ((double)heap_after - (double)heap_before) / w.pairs);
	/* Every round, so that runs can be pooled; then the medians. */
	print_samples("wall_samples", wall, w.rounds);
	print_samples("cpu_samples", cpu, w.rounds);
	printf(" wall_ns=%lld cpu_ns=%lld\n", median(wall, w.rounds),
	       median(cpu, w.rounds));

	impl->teardown(&w);
	close_pairs(&w);
	free(wall);
	free(cpu);
	return 0;
}
