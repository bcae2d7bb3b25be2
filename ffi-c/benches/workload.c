/* The SPEC's login-failure workload through the C ABI, for `make bench-c`.
 * Prints `c VARIANT NS_PER_ATTEMPT`, the median of 7 runs, each on a fresh guard:
 * VARIANT zipf / hot is check + record_failure per attempt, zipf-begin / hot-begin
 * one lg_guard_begin per attempt (the race-free flow). */
#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loginguard.h"

#define ATTEMPTS 200000
#define ACCOUNTS 100000
#define RUNS 7

static uint64_t state = 42;

static uint64_t next(void) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Account and IP text, as a login form delivers them. */
typedef struct {
    char account[32];
    char ip[20];
} attempt_text;

static void zipf(attempt_text *out) {
    double *cdf = malloc(ACCOUNTS * sizeof *cdf);
    double total = 0;
    for (int i = 0; i < ACCOUNTS; i++) cdf[i] = total += 1.0 / (i + 1.0);
    for (int n = 0; n < ATTEMPTS; n++) {
        double u = (double)(next() >> 11) * (1.0 / 9007199254740992.0);
        size_t lo = 0, hi = ACCOUNTS; /* first i with cdf[i] > u * total */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cdf[mid] > u * total) hi = mid; else lo = mid + 1;
        }
        if (lo == ACCOUNTS) lo = ACCOUNTS - 1;
        uint64_t j = next() % 10000;
        snprintf(out[n].account, sizeof out[n].account, "user%zu@example.com", lo);
        snprintf(out[n].ip, sizeof out[n].ip, "10.%u.%u.7", (unsigned)(j / 256), (unsigned)(j % 256));
    }
    free(cdf);
}

static void hot(attempt_text *out) {
    for (int n = 0; n < ATTEMPTS; n++) {
        strcpy(out[n].account, "user0@example.com");
        strcpy(out[n].ip, "10.0.0.7");
    }
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double run(const attempt_text *work, bool begin) {
    lg_guard *g = NULL;
    if (lg_guard_new(NULL, 0, &g) != LG_OK) exit(1);
    unsigned long long sink = 0;
    double start = now_ns();
    for (int n = 0; n < ATTEMPTS; n++) {
        lg_attempt a = {0};
        a.account = (const uint8_t *)work[n].account;
        a.account_len = strlen(work[n].account);
        a.ip = (const uint8_t *)work[n].ip;
        a.ip_len = strlen(work[n].ip);
        lg_decision d;
        if (begin) {
            if (lg_guard_begin(g, &a, false, &d) != LG_OK) exit(1);
            sink += d.action;
            continue;
        }
        if (lg_guard_check(g, &a, &d) != LG_OK) exit(1);
        sink += d.action;
        if (lg_guard_record_failure(g, &a, &d) != LG_OK) exit(1);
        sink += d.failures;
    }
    double ns = (now_ns() - start) / ATTEMPTS;
    lg_guard_free(g);
    if (sink == 42) puts(""); /* keeps the results used */
    return ns;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    attempt_text *work = malloc(ATTEMPTS * sizeof *work);
    const char *names[] = {"zipf", "hot", "zipf-begin", "hot-begin"};
    for (int v = 0; v < 4; v++) {
        if (v % 2 == 0) zipf(work); else hot(work);
        double times[RUNS];
        for (int r = 0; r < RUNS; r++) times[r] = run(work, v >= 2);
        qsort(times, RUNS, sizeof *times, by_value);
        printf("c %s %.1f\n", names[v], times[RUNS / 2]);
    }
    free(work);
    return 0;
}
