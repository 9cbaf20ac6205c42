/*
 * The chained-write workload shared by every C event loop of the benchmark.
 *
 * N socketpairs; each round writes one byte to A pairs spread evenly over
 * the N, and every read callback passes the byte on to the next pair until
 * W writes are done. Only the dispatch loop is timed, so the figure is what
 * the event loop costs per event, with the N - A idle registrations as load.
 */
#ifndef KPOLL_BENCH_WORKLOAD_H
#define KPOLL_BENCH_WORKLOAD_H

#include <stddef.h>

struct workload {
	int pairs;          /* N: socketpairs, all registered */
	int active;         /* A: pairs written to at the start of a round */
	int writes;         /* W: chained writes per round */
	int rounds;         /* R: rounds; the median is reported */
	const char *method; /* "epoll", "poll" or "select" */
	int *rd;            /* read end of pair i, the one watched */
	int *wr;            /* write end of pair i */
	long count;         /* bytes read in this round */
	long fired;         /* bytes written in this round */
	long writes_left;   /* chained writes still to make */
	long waits;         /* loop iterations in this round */
	int failed;         /* a read or write that did not move one byte */
};

/* What one event loop gives the harness. */
struct loop_impl {
	const char *name;
	/* Registers every rd[i] for reading; 0 or -1 with a message. */
	int (*setup)(struct workload *w);
	/* Dispatches until count == fired, adding to waits. */
	void (*run)(struct workload *w);
	void (*teardown)(struct workload *w);
};

/* The read callback of pair idx: take the byte, pass one on. */
void workload_on_readable(struct workload *w, int idx);

/* Parses -n -a -w -r -m, runs the rounds, prints one result line. */
int workload_main(int argc, char **argv, const struct loop_impl *impl);

#endif
