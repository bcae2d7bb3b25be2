/* One guard shared by 8 threads without a lock: exact counts on one key and on
 * many, and begin lets exactly lock_after + 1 through to the password check. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"

#define THREADS 8
#define PER_THREAD 200
#define TOTAL (THREADS * PER_THREAD)
#define ACCOUNTS 50

typedef struct {
    const lg_guard *guard;
    pthread_barrier_t *barrier;
    int index;
    uint32_t failures[PER_THREAD]; /* what each call saw */
    int through;
    int errors;
} job;

static atomic_int challenge_events;

static void on_event(const lg_event *e, void *user_data) {
    (void)user_data;
    if (e->kind == LG_EVENT_CHALLENGE) atomic_fetch_add(&challenge_events, 1);
}

static void *one_account(void *p) {
    job *j = p;
    lg_attempt a = attempt_of("alice", NULL, NULL);
    pthread_barrier_wait(j->barrier);
    for (int i = 0; i < PER_THREAD; i++) {
        lg_decision d;
        if (lg_guard_record_failure(j->guard, &a, &d) != LG_OK) {
            j->errors++;
            continue;
        }
        j->failures[i] = d.failures;
    }
    return NULL;
}

static void *many_accounts(void *p) {
    job *j = p;
    pthread_barrier_wait(j->barrier);
    for (int i = 0; i < PER_THREAD; i++) {
        char account[32];
        snprintf(account, sizeof account, "user%d@example.com", (j->index * 7 + i) % ACCOUNTS);
        lg_attempt a = attempt_of(account, "10.1.2.3", NULL);
        lg_decision d;
        if (lg_guard_record_failure(j->guard, &a, &d) != LG_OK) j->errors++;
    }
    return NULL;
}

static void *begins(void *p) {
    job *j = p;
    lg_attempt a = attempt_of("alice", "203.0.113.7", NULL);
    pthread_barrier_wait(j->barrier);
    for (int i = 0; i < PER_THREAD; i++) {
        lg_decision d;
        if (lg_guard_begin(j->guard, &a, true, &d) != LG_OK) {
            j->errors++;
            continue;
        }
        j->through += lg_decision_lets_password_be_checked(&d, true);
    }
    return NULL;
}

static job *run(const lg_guard *g, void *(*body)(void *)) {
    static job jobs[THREADS];
    pthread_t ids[THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    memset(jobs, 0, sizeof jobs);
    for (int t = 0; t < THREADS; t++) {
        jobs[t].guard = g;
        jobs[t].barrier = &barrier;
        jobs[t].index = t;
        pthread_create(&ids[t], NULL, body, &jobs[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(ids[t], NULL);
        CHECK(jobs[t].errors == 0);
    }
    pthread_barrier_destroy(&barrier);
    return jobs;
}

static void exact_on_one_account(void) {
    lg_guard *g = manual_guard("[account]\nchallenge_after = 100\nlock_after = false\nreset_after = false\n"
                               "[store]\ncapacity = 1024\n");
    CHECK_STATUS(lg_guard_set_listener(g, on_event, NULL), LG_OK);
    job *jobs = run(g, one_account);
    /* The failures seen are exactly 1..TOTAL, each once. */
    static bool seen[TOTAL + 1];
    int duplicates = 0, out_of_range = 0;
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++) {
            uint32_t f = jobs[t].failures[i];
            if (f < 1 || f > TOTAL) {
                out_of_range++;
            } else if (seen[f]) {
                duplicates++;
            } else {
                seen[f] = true;
            }
        }
    }
    CHECK(duplicates == 0 && out_of_range == 0);
    CHECK(atomic_load(&challenge_events) == 1); /* the threshold is seen crossed once */
    lg_inspection in;
    lg_attempt a = attempt_of("alice", NULL, NULL);
    CHECK_STATUS(lg_guard_inspect(g, &a, &in), LG_OK);
    CHECK(in.dimensions_len == 1 && in.dimensions[0].failures == TOTAL && in.dimensions[0].consecutive == TOTAL);
    lg_guard_free(g);
}

static void exact_on_many_accounts(void) {
    lg_guard *g = manual_guard("[ip]\nenabled = false\n[ip_range]\nenabled = false\n[store]\ncapacity = 4096\n");
    run(g, many_accounts);
    int wrong = 0;
    for (int k = 0; k < ACCOUNTS; k++) {
        char account[32];
        snprintf(account, sizeof account, "user%d@example.com", k);
        lg_attempt a = attempt_of(account, "10.1.2.3", NULL);
        lg_inspection in;
        CHECK_STATUS(lg_guard_inspect(g, &a, &in), LG_OK);
        /* account and account_ip both hold exactly TOTAL / ACCOUNTS */
        for (size_t i = 0; i < in.dimensions_len; i++) wrong += in.dimensions[i].failures != TOTAL / ACCOUNTS;
        wrong += in.dimensions_len != 2;
    }
    CHECK(wrong == 0);
    lg_stats st;
    CHECK_STATUS(lg_guard_stats(g, &st), LG_OK);
    CHECK(st.allow + st.challenge + st.deny + st.reset_required == TOTAL);
    CHECK(st.occupancy == 2 * ACCOUNTS);
    lg_guard_free(g);
}

static void begin_lets_lock_after_plus_one_through(void) {
    lg_guard *g = manual_guard("[account_ip]\nlock_after = 10\n[store]\ncapacity = 1024\n");
    job *jobs = run(g, begins);
    int through = 0;
    for (int t = 0; t < THREADS; t++) through += jobs[t].through;
    CHECK(through == 11);
    lg_decision d;
    lg_attempt a = attempt_of("alice", "203.0.113.7", NULL);
    CHECK_STATUS(lg_guard_check(g, &a, &d), LG_OK);
    CHECK(d.action == LG_ACTION_DENY && d.reason == LG_REASON_ACCOUNT_IP && d.failures == 11);
    lg_guard_free(g);
}

int main(void) {
    exact_on_one_account();
    exact_on_many_accounts();
    begin_lets_lock_after_plus_one_through();
    return report("threads");
}
