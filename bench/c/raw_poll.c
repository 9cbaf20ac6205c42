/* The floor for poll: one pollfd array, scanned after every call. */
#define _GNU_SOURCE
#include "workload.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

static struct pollfd *pfds;

static int setup(struct workload *w)
{
	int i;

	pfds = calloc((size_t)w->pairs, sizeof(*pfds));
	if (!pfds)
		return -1;
	for (i = 0; i < w->pairs; i++) {
		pfds[i].fd = w->rd[i];
		pfds[i].events = POLLIN;
	}
	return 0;
}

static void run(struct workload *w)
{
	int i, n;

	while (w->count != w->fired) {
		n = poll(pfds, (nfds_t)w->pairs, -1);
		w->waits++;
		/* Stop scanning once all n ready entries are seen. */
		for (i = 0; i < w->pairs && n > 0; i++) {
			if (pfds[i].revents) {
				n--;
				workload_on_readable(w, i);
			}
		}
	}
}

static void teardown(struct workload *w)
{
	(void)w;
	free(pfds);
}

int main(int argc, char **argv)
{
	static const struct loop_impl impl = {"raw", setup, run, teardown};

	return workload_main(argc, argv, &impl);
}
