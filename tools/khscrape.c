// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * khscrape: a bounded scrape load for tools/bench-export.sh, on 127.0.0.1
 * only.  SCRAPERS threads each GET PATH one request after another (a new
 * connection each, as Prometheus does per scrape) until SECONDS have
 * passed; BAD more threads keep misbehaving meanwhile, in turn: a request
 * sent half and held, a 1 MiB header, and pipelined requests whose answers
 * are never read.  Prints one line: requests, errors, latency median / p99
 * / max in ms, and how many bad-client rounds ran.
 *
 *   khscrape PORT SCRAPERS SECONDS [BAD] [PATH]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "khdial.h"

#define MAX_PER_THREAD	200000

/* What every thread shares, read-only once they start. */
struct load {
	uint16_t port;
	double deadline;
	const char *path;
};

struct worker {
	pthread_t t;
	const struct load *l;
	double *lat;		/* seconds per good request */
	size_t n, errors, bad_rounds;
	int id;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One scrape: 0 when a 200 came back in full (the server closes after it). */
static int scrape(const struct load *l)
{
	char req[256], buf[65536];
	int fd = kh_dial_loopback(l->port, 5), len, ok = 0;
	ssize_t got;
	size_t total = 0;

	if (fd < 0)
		return -1;
	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		       "Connection: close\r\n\r\n", l->path);
	if (send(fd, req, len, MSG_NOSIGNAL) != len) {
		close(fd);
		return -1;
	}
	while ((got = recv(fd, buf, sizeof(buf), 0)) > 0) {
		if (!total)
			ok = got > 12 && !strncmp(buf + 8, " 200", 4);
		total += got;
	}
	close(fd);
	return ok && got == 0 ? 0 : -1;
}

static void *scraper(void *arg)
{
	struct worker *w = arg;

	while (now() < w->l->deadline && w->n < MAX_PER_THREAD) {
		double t0 = now();

		if (scrape(w->l))
			w->errors++;
		else
			w->lat[w->n++] = now() - t0;
	}
	return NULL;
}

static void hold(const struct load *l, double secs)
{
	double end = now() + secs;

	while (now() < end && now() < l->deadline)
		usleep(50000);
}

/* The bad clients, in turn, until the deadline. */
static void *bad(void *arg)
{
	static const char half[] = "GET /metr";
	static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct worker *w = arg;
	size_t big = 1 << 20;
	char *hdr = malloc(big + 64);

	if (!hdr)
		return NULL;
	memcpy(hdr, "GET /metrics HTTP/1.1\r\nX-Big: ", 30);
	memset(hdr + 30, 'a', big - 30);
	memcpy(hdr + big, "\r\n\r\n", 4);
	for (int k = w->id; now() < w->l->deadline; k++) {
		int fd = kh_dial_loopback(w->l->port, 5), small = 4096;
		char sink[4096];

		if (fd < 0) {
			w->errors++;
			hold(w->l, 0.1);
			continue;
		}
		switch (k % 3) {
		case 0:
			send(fd, half, sizeof(half) - 1, MSG_NOSIGNAL);
			hold(w->l, 2);
			break;
		case 1:
			for (size_t off = 0; off < big + 4;) {
				ssize_t s = send(fd, hdr + off, big + 4 - off, MSG_NOSIGNAL);

				if (s <= 0)
					break;
				off += s;
			}
			while (recv(fd, sink, sizeof(sink), 0) > 0)
				;
			break;
		case 2:
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
			for (int i = 0; i < 20; i++)
				if (send(fd, get, sizeof(get) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
					break;
			hold(w->l, 3);
			break;
		}
		close(fd);
		w->bad_rounds++;
	}
	free(hdr);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct load l = { .path = "/metrics" };
	int nscr, nbad = 0;
	double secs;
	struct worker *w;
	size_t total = 0, errors = 0, bad_rounds = 0;
	double *all;

	if (argc < 4 || (l.port = atoi(argv[1])) == 0 || (nscr = atoi(argv[2])) < 1 ||
	    nscr > 1000 || (secs = atof(argv[3])) <= 0 || secs > 600) {
		fprintf(stderr, "usage: khscrape PORT SCRAPERS(1-1000) SECONDS(<=600) [BAD] [PATH]\n");
		return 2;
	}
	if (argc > 4)
		nbad = atoi(argv[4]);
	if (argc > 5)
		l.path = argv[5];
	if (nbad < 0 || nbad > 100) {
		fprintf(stderr, "khscrape: BAD is 0 to 100\n");
		return 2;
	}
	w = calloc(nscr + nbad, sizeof(*w));
	if (!w)
		return 1;
	l.deadline = now() + secs;
	for (int i = 0; i < nscr + nbad; i++) {
		w[i].id = i;
		w[i].l = &l;
		if (i < nscr && !(w[i].lat = malloc(MAX_PER_THREAD * sizeof(double))))
			return 1;
		if (pthread_create(&w[i].t, NULL, i < nscr ? scraper : bad, &w[i])) {
			fprintf(stderr, "khscrape: cannot start thread %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	for (int i = 0; i < nscr + nbad; i++) {
		pthread_join(w[i].t, NULL);
		total += w[i].n;
		errors += w[i].errors;
		bad_rounds += w[i].bad_rounds;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return 1;
	total = 0;
	for (int i = 0; i < nscr; i++) {
		memcpy(all + total, w[i].lat, w[i].n * sizeof(double));
		total += w[i].n;
	}
	qsort(all, total, sizeof(*all), cmp);
	printf("requests=%zu errors=%zu rps=%.0f median_ms=%.2f p99_ms=%.2f max_ms=%.2f "
	       "bad_rounds=%zu\n", total, errors, total / secs,
	       total ? all[total / 2] * 1e3 : 0, total ? all[total * 99 / 100] * 1e3 : 0,
	       total ? all[total - 1] * 1e3 : 0, bad_rounds);
	return 0;
}
