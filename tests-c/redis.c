/* The redis store through the C ABI: a policy with kind = "redis" is all it
 * takes. Runs against the server whose URL and pid the Makefile passes in
 * LG_TEST_REDIS_URL and LG_TEST_REDIS_PID (it starts one of its own). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <sys/types.h>

#include "check.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static lg_guard *redis_guard(const char *url, const char *extra) {
    char toml[1024];
    snprintf(toml, sizeof toml,
             "[store]\nkind = \"redis\"\nurl = \"%s\"\nprefix = \"ctest\"\nclock = \"host\"\n%s", url,
             extra);
    return manual_guard(toml);
}

int main(void) {
    const char *url = getenv("LG_TEST_REDIS_URL");
    const char *pid_text = getenv("LG_TEST_REDIS_PID");
    if (!url || !pid_text) {
        fprintf(stderr, "redis: LG_TEST_REDIS_URL and LG_TEST_REDIS_PID must name a running redis-server\n");
        return 1;
    }
    pid_t pid = (pid_t)atol(pid_text);
    lg_guard *one = redis_guard(url, "timeout = \"200ms\"\n");
    lg_guard *two = redis_guard(url, "timeout = \"200ms\"\n");
    CHECK(one != NULL && two != NULL);
    if (!one || !two) return report("redis");
    lg_attempt alice = attempt_of("alice", "203.0.113.7", NULL);
    lg_decision d;
    for (int i = 1; i <= 4; i++) {
        CHECK_STATUS(lg_guard_record_failure(i % 2 ? one : two, &alice, &d), LG_OK);
        CHECK(d.failures == (uint32_t)i && !d.degraded);
    }
    /* The other host sees the same counters. */
    CHECK_STATUS(lg_guard_check(two, &alice, &d), LG_OK);
    CHECK(d.action == LG_ACTION_CHALLENGE && d.reason == LG_REASON_ACCOUNT && d.failures == 4 && !d.degraded);
    lg_inspection in;
    CHECK_STATUS(lg_guard_inspect(one, &alice, &in), LG_OK);
    CHECK(in.dimensions_len == 4 && in.dimensions[0].tracked && in.dimensions[0].failures == 4); /* and ip_range */
    lg_stats st;
    CHECK_STATUS(lg_guard_stats(two, &st), LG_OK);
    CHECK(st.capacity == 0 && st.challenge >= 1);
    CHECK_STATUS(lg_guard_reset_account(two, (const uint8_t *)"alice", 5), LG_OK);
    CHECK_STATUS(lg_guard_inspect(one, &alice, &in), LG_OK);
    CHECK(in.decision.action == LG_ACTION_ALLOW && !in.dimensions[0].tracked);

    /* A frozen server: every call answers within the deadline (plus slack),
     * with on_error's decision and degraded set. */
    CHECK(kill(pid, SIGSTOP) == 0);
    for (int i = 0; i < 5; i++) {
        double t0 = now_s();
        CHECK_STATUS(lg_guard_begin(one, &alice, false, &d), LG_OK);
        CHECK(now_s() - t0 < 2.0);
        CHECK(d.degraded && d.action == LG_ACTION_CHALLENGE && d.reason == LG_REASON_ACCOUNT);
        CHECK(!lg_decision_lets_password_be_checked(&d, false));
    }
    CHECK_STATUS(lg_guard_reset_ip(one, (const uint8_t *)"203.0.113.7", 11), LG_ERR_STORE);
    CHECK(kill(pid, SIGCONT) == 0);
    double t0 = now_s();
    do {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        CHECK_STATUS(lg_guard_check(one, &alice, &d), LG_OK);
    } while (d.degraded && now_s() - t0 < 15.0);
    CHECK(!d.degraded && d.action == LG_ACTION_ALLOW);

    /* Nothing listening: a store error at construction, never a crash. */
    lg_guard *none = NULL;
    const char *bad = "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n";
    CHECK_STATUS(lg_guard_new((const uint8_t *)bad, strlen(bad), &none), LG_ERR_STORE);
    CHECK(none == NULL);
    lg_guard_free(one);
    lg_guard_free(two);
    return report("redis");
}
