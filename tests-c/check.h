/* Shared helpers of the C tests: CHECK counts, attempts from C strings. */
#ifndef LOGINGUARD_TEST_CHECK_H
#define LOGINGUARD_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "loginguard.h"

static int checks_passed;
static int checks_failed;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (cond) {                                                        \
            checks_passed++;                                               \
        } else {                                                           \
            checks_failed++;                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                  \
    } while (0)

#define CHECK_STATUS(expr, want)                                           \
    do {                                                                   \
        lg_status got_ = (expr);                                           \
        if (got_ == (lg_status)(want)) {                                   \
            checks_passed++;                                               \
        } else {                                                           \
            checks_failed++;                                               \
            fprintf(stderr, "%s:%d: %s gave %u (%s), expected %s\n", __FILE__, __LINE__, \
                    #expr, (unsigned)got_, lg_status_message(got_), #want); \
        }                                                                  \
    } while (0)

/* An attempt from NUL-terminated strings; NULL leaves a field absent. */
static inline lg_attempt attempt_of(const char *account, const char *ip, const char *device) {
    lg_attempt a;
    memset(&a, 0, sizeof a);
    if (account) {
        a.account = (const uint8_t *)account;
        a.account_len = strlen(account);
    }
    if (ip) {
        a.ip = (const uint8_t *)ip;
        a.ip_len = strlen(ip);
    }
    if (device) {
        a.device = (const uint8_t *)device;
        a.device_len = strlen(device);
    }
    return a;
}

static inline lg_guard *manual_guard(const char *toml) {
    lg_guard *g = NULL;
    char message[256];
    lg_status s = lg_guard_new_with_message((const uint8_t *)toml, toml ? strlen(toml) : 0, true, &g,
                                            message, sizeof message);
    if (s != LG_OK) {
        fprintf(stderr, "guard: %s: %s\n", lg_status_message(s), message);
        return NULL;
    }
    return g;
}

/* The closing line every test prints; the exit status follows it. */
static inline int report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

#endif
