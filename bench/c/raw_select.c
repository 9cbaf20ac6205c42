/*
 * The floor for select. The fd sets are allocated to fit the highest fd:
 * FD_SET on an fd at or above FD_SETSIZE is undefined behaviour in glibc,
 * while the kernel takes sets of any size, so the bits are set by hand.
 */
#define _GNU_SOURCE
#include "workload.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#define WORD_BITS ((int)(sizeof(unsigned long) * CHAR_BIT))

static unsigned long *watched, *ready;
static size_t words;
static int maxfd = -1;
static int *idx_of_fd;

static int setup(struct workload *w)
{
	int i;

	for (i = 0; i < w->pairs; i++)
		if (w->rd[i] > maxfd)
			maxfd = w->rd[i];
	words = (size_t)(maxfd / WORD_BITS + 1);
	watched = calloc(words, sizeof(*watched));
	ready = calloc(words, sizeof(*ready));
	idx_of_fd = calloc((size_t)maxfd + 1, sizeof(*idx_of_fd));
	if (!watched || !ready || !idx_of_fd)
		return -1;
	for (i = 0; i < w->pairs; i++) {
		int fd = w->rd[i];

		watched[fd / WORD_BITS] |= 1UL << (fd % WORD_BITS);
		idx_of_fd[fd] = i;
	}
	return 0;
}

static void run(struct workload *w)
{
	size_t k;
	int n;

	while (w->count != w->fired) {
		memcpy(ready, watched, words * sizeof(*ready));
		/* The kernel reads and writes nfds bits: the buffer's size. */
		n = select(maxfd + 1, (fd_set *)(void *)ready, NULL, NULL,
			   NULL);
		w->waits++;
		/* Skip empty words; stop once all n ready fds are seen. */
		for (k = 0; k < words && n > 0; k++) {
			unsigned long bits = ready[k];

			while (bits) {
				int bit = __builtin_ctzl(bits);

				bits &= bits - 1;
				n--;
				workload_on_readable(
					w, idx_of_fd[(int)k * WORD_BITS + bit]);
			}
		}
	}
}

static void teardown(struct workload *w)
{
	(void)w;
	free(watched);
	free(ready);
	free(idx_of_fd);
}

int main(int argc, char **argv)
{
	static const struct loop_impl impl = {"raw", setup, run, teardown};

	return workload_main(argc, argv, &impl);
}
