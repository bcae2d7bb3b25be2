/* Every bad input returns its status, writes no output and records nothing. */
#include <stdlib.h>

#include "check.h"

#define SENTINEL 0xA5

static lg_decision sentinel_decision(void) {
    lg_decision d;
    memset(&d, SENTINEL, sizeof d);
    return d;
}

static bool untouched(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != SENTINEL) return false;
    return true;
}

/* check, begin, record_failure, record_success and inspect all give `want` for `a`. */
static void all_ops_give(const lg_guard *g, const lg_attempt *a, lg_status want, const char *what) {
    lg_decision d = sentinel_decision();
    lg_inspection in;
    memset(&in, SENTINEL, sizeof in);
    int before = checks_failed;
    CHECK_STATUS(lg_guard_check(g, a, &d), want);
    CHECK_STATUS(lg_guard_begin(g, a, true, &d), want);
    CHECK_STATUS(lg_guard_record_failure(g, a, &d), want);
    CHECK_STATUS(lg_guard_record_success(g, a, true), want);
    CHECK_STATUS(lg_guard_inspect(g, a, &in), want);
    CHECK(untouched(&d, sizeof d));
    CHECK(untouched(&in, sizeof in));
    if (checks_failed != before) fprintf(stderr, "  (input: %s)\n", what);
}

static void null_pointers(const lg_guard *g) {
    lg_attempt a = attempt_of("alice", "203.0.113.7", NULL);
    lg_decision d = sentinel_decision();
    lg_inspection in;
    lg_stats st;
    uint64_t now = 7;
    all_ops_give(NULL, &a, LG_ERR_NULL, "NULL guard");
    all_ops_give(g, NULL, LG_ERR_NULL, "NULL attempt");
    CHECK_STATUS(lg_guard_reset_account(NULL, a.account, a.account_len), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_reset_ip(NULL, a.ip, a.ip_len), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_reset_ip_bytes(NULL, (const uint8_t *)"\xcb\0\x71\7", 4), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_stats(NULL, &st), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_advance_ms(NULL, 1), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_now_ms(NULL, &now), LG_ERR_NULL);
    CHECK(now == 7);
    CHECK_STATUS(lg_guard_set_listener(NULL, NULL, NULL), LG_ERR_NULL);
    /* NULL outputs: an error, and nothing recorded (the stats below prove it). */
    CHECK_STATUS(lg_guard_check(g, &a, NULL), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_begin(g, &a, false, NULL), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_record_failure(g, &a, NULL), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_inspect(g, &a, NULL), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_stats(g, NULL), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_now_ms(g, NULL), LG_ERR_NULL);
    /* A NULL buffer with a non-zero length. */
    lg_attempt bad = a;
    bad.account = NULL;
    all_ops_give(g, &bad, LG_ERR_NULL, "NULL account with a length");
    bad = a;
    bad.ip = NULL;
    all_ops_give(g, &bad, LG_ERR_NULL, "NULL ip with a length");
    bad = a;
    bad.ip = NULL;
    bad.ip_len = 0;
    bad.ip_bytes_len = 4;
    all_ops_give(g, &bad, LG_ERR_NULL, "NULL ip_bytes with a length");
    bad = a;
    bad.device_len = 3;
    all_ops_give(g, &bad, LG_ERR_NULL, "NULL device with a length");
    CHECK_STATUS(lg_guard_reset_account(g, NULL, 5), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_reset_ip(g, NULL, 5), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_reset_ip_bytes(g, NULL, 4), LG_ERR_NULL);
    CHECK(lg_decision_lets_password_be_checked(NULL, true) == false);
    (void)d;
    (void)in;
}

static void bad_attempts(const lg_guard *g) {
    lg_attempt a;
    all_ops_give(g, &(lg_attempt){0}, LG_ERR_INVALID_ATTEMPT, "empty attempt");
    a = attempt_of("", NULL, NULL);
    a.account = (const uint8_t *)"";
    all_ops_give(g, &a, LG_ERR_INVALID_ATTEMPT, "zero-length account");
    all_ops_give(g, &(lg_attempt){.account = (const uint8_t *)" \t ", .account_len = 3}, LG_ERR_INVALID_ATTEMPT,
                 "account empty after normalization");
    CHECK_STATUS(lg_guard_reset_account(g, (const uint8_t *)"", 0), LG_ERR_INVALID_ATTEMPT);
    a = attempt_of(NULL, NULL, "device-1");
    all_ops_give(g, &a, LG_ERR_INVALID_ATTEMPT, "device without account");

    /* Invalid UTF-8 in the account and in the ip text. */
    const char *bad_utf8[] = {"\xff", "al\xc3", "\xed\xa0\x80", "x\xc0\xaf", "\xf8\x88\x80\x80\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++) {
        a = attempt_of(bad_utf8[i], "203.0.113.7", NULL);
        all_ops_give(g, &a, LG_ERR_INVALID_UTF8, "invalid UTF-8 account");
        a = attempt_of("alice", bad_utf8[i], NULL);
        all_ops_give(g, &a, LG_ERR_INVALID_UTF8, "invalid UTF-8 ip");
        CHECK_STATUS(lg_guard_reset_account(g, (const uint8_t *)bad_utf8[i], strlen(bad_utf8[i])),
                     LG_ERR_INVALID_UTF8);
        CHECK_STATUS(lg_guard_reset_ip(g, (const uint8_t *)bad_utf8[i], strlen(bad_utf8[i])), LG_ERR_INVALID_UTF8);
    }

    /* A 1 MiB account, and the first length over the limit. */
    size_t big = 1 << 20;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = 0;
    a = attempt_of(huge, "203.0.113.7", NULL);
    all_ops_give(g, &a, LG_ERR_INVALID_ATTEMPT, "1 MiB account");
    CHECK_STATUS(lg_guard_reset_account(g, (const uint8_t *)huge, big), LG_ERR_INVALID_ATTEMPT);
    a.account_len = 1025;
    all_ops_give(g, &a, LG_ERR_INVALID_ATTEMPT, "1025-byte account");
    a = attempt_of("alice", NULL, NULL);
    a.device = (const uint8_t *)huge;
    a.device_len = 257;
    all_ops_give(g, &a, LG_ERR_INVALID_ATTEMPT, "257-byte device");
    free(huge);

    /* Malformed ip text. */
    const char *bad_ips[] = {"1.2.3", "::g", "not-an-ip", "192.0.2.1%eth0", "256.0.0.1", " 1.2.3.4", "1.2.3.4/24",
                             "[::1]", "1.2.3.4:80"};
    for (size_t i = 0; i < sizeof bad_ips / sizeof *bad_ips; i++) {
        a = attempt_of("alice", bad_ips[i], NULL);
        all_ops_give(g, &a, LG_ERR_INVALID_IP, bad_ips[i]);
        a = attempt_of(NULL, bad_ips[i], NULL);
        all_ops_give(g, &a, LG_ERR_INVALID_IP, bad_ips[i]);
        CHECK_STATUS(lg_guard_reset_ip(g, (const uint8_t *)bad_ips[i], strlen(bad_ips[i])), LG_ERR_INVALID_IP);
    }
    CHECK_STATUS(lg_guard_reset_ip(g, (const uint8_t *)"", 0), LG_ERR_INVALID_ATTEMPT);

    /* ip bytes of a length other than 4 or 16. */
    const uint8_t raw[17] = {203, 0, 113, 7};
    const size_t bad_lens[] = {1, 3, 5, 6, 8, 15, 17};
    for (size_t i = 0; i < sizeof bad_lens / sizeof *bad_lens; i++) {
        a = attempt_of("alice", NULL, NULL);
        a.ip_bytes = raw;
        a.ip_bytes_len = bad_lens[i];
        all_ops_give(g, &a, LG_ERR_INVALID_IP, "ip bytes of a bad length");
        CHECK_STATUS(lg_guard_reset_ip_bytes(g, raw, bad_lens[i]), LG_ERR_INVALID_IP);
    }
    CHECK_STATUS(lg_guard_reset_ip_bytes(g, raw, 0), LG_ERR_INVALID_ATTEMPT);

    /* The ip both as text and as bytes is ambiguous. */
    a = attempt_of("alice", "203.0.113.7", NULL);
    a.ip_bytes = raw;
    a.ip_bytes_len = 4;
    all_ops_give(g, &a, LG_ERR_INVALID_ATTEMPT, "ip as text and as bytes");
}

static void bad_policies(void) {
    struct {
        const char *toml;
        size_t len;
        lg_status want;
        const char *names;
    } cases[] = {
        {"[account]\nchallenge_afer = 3\n", 0, LG_ERR_POLICY, "challenge_afer"},
        {"[account]\nlock_for = \"0s\"\n", 0, LG_ERR_POLICY, "lock_for"},
        {"[account]\nlock_for = \"30\"\n", 0, LG_ERR_POLICY, "lock_for"},
        {"[account]\nlock_growth = 0.5\n", 0, LG_ERR_POLICY, "lock_growth"},
        {"[ip]\nlock_for = \"1h\"\nlock_max = \"1m\"\n", 0, LG_ERR_POLICY, "lock_max"},
        {"[account]\nlock_after = -1\n", 0, LG_ERR_POLICY, "lock_after"},
        {"[store]\ncapacity = 0\n", 0, LG_ERR_POLICY, "store.capacity"},
        {"[store]\nkind = \"redis\"\n", 0, LG_ERR_POLICY, "kind"},
        {"ipv4_prefix = 33\n", 0, LG_ERR_POLICY, "ipv4_prefix"},
        {"deny_cidrs = [\"10.0.0.0/99\"]\n", 0, LG_ERR_POLICY, "deny_cidrs"},
        {"[account\n", 0, LG_ERR_POLICY, "(file)"},
        {"[account]\nchallenge_after = \"\xff\"\n", 0, LG_ERR_INVALID_UTF8, "utf-8"},
        {NULL, 12, LG_ERR_NULL, "NULL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = cases[i].toml ? strlen(cases[i].toml) : cases[i].len;
        lg_guard *sentinel = (lg_guard *)&cases[i];
        lg_guard *g = sentinel;
        char message[200];
        memset(message, SENTINEL, sizeof message);
        CHECK_STATUS(lg_guard_new_with_message((const uint8_t *)cases[i].toml, len, true, &g, message,
                                               sizeof message),
                     cases[i].want);
        CHECK(g == sentinel);
        CHECK(memchr(message, 0, sizeof message) != NULL);
        if (!strstr(message, cases[i].names)) {
            checks_failed++;
            fprintf(stderr, "policy case %zu: message \"%s\" does not name %s\n", i, message, cases[i].names);
        }
        CHECK_STATUS(lg_guard_new((const uint8_t *)cases[i].toml, len, &g), cases[i].want);
        CHECK_STATUS(lg_guard_new_manual_clock((const uint8_t *)cases[i].toml, len, &g), cases[i].want);
        CHECK(g == sentinel);
    }

    /* A small buffer gets a cut, NUL-terminated message; a NULL one gets nothing. */
    const char *toml = "[account]\nlock_for = \"0s\"\n";
    lg_guard *g = NULL;
    char small[8];
    memset(small, SENTINEL, sizeof small);
    CHECK_STATUS(lg_guard_new_with_message((const uint8_t *)toml, strlen(toml), false, &g, small, sizeof small),
                 LG_ERR_POLICY);
    CHECK(small[7] == 0 && strlen(small) == 7 && strncmp(small, "policy ", 7) == 0);
    char one[1] = {'x'};
    CHECK_STATUS(lg_guard_new_with_message((const uint8_t *)toml, strlen(toml), false, &g, one, 1), LG_ERR_POLICY);
    CHECK(one[0] == 0);
    CHECK_STATUS(lg_guard_new_with_message((const uint8_t *)toml, strlen(toml), false, &g, NULL, 0), LG_ERR_POLICY);
    CHECK_STATUS(lg_guard_new_with_message((const uint8_t *)toml, strlen(toml), false, NULL, small, sizeof small),
                 LG_ERR_NULL);
    CHECK_STATUS(lg_guard_new(NULL, 0, NULL), LG_ERR_NULL);
    CHECK(g == NULL);

    /* A guard on the system clock has no manual clock to move. */
    CHECK_STATUS(lg_guard_new((const uint8_t *)"[store]\ncapacity = 64\n", 22, &g), LG_OK);
    CHECK_STATUS(lg_guard_advance_ms(g, 1000), LG_ERR_NOT_MANUAL_CLOCK);
    lg_guard_free(g);
    lg_guard_free(NULL);
}

static void status_messages(void) {
    for (uint32_t s = 0; s <= 9; s++) {
        const char *m = lg_status_message(s);
        CHECK(m != NULL && strlen(m) > 0);
        CHECK((strcmp(m, "unknown status") != 0) == (s != LG_ERR_UNKNOWN));
        for (uint32_t t = 0; t < s; t++) CHECK(strcmp(m, lg_status_message(t)) != 0);
    }
    CHECK(strcmp(lg_status_message(10), "unknown status") == 0);
    CHECK(strcmp(lg_status_message(UINT32_MAX), "unknown status") == 0);
    CHECK(strcmp(lg_action_name(99), "unknown") == 0);
    CHECK(strcmp(lg_reason_name(99), "unknown") == 0);
    CHECK(strcmp(lg_dimension_name(99), "unknown") == 0);
    lg_decision d = {.action = 77};
    CHECK(!lg_decision_lets_password_be_checked(&d, true));
}

int main(void) {
    lg_guard *g = manual_guard("[store]\ncapacity = 1024\n");
    if (!g) return 1;
    null_pointers(g);
    bad_attempts(g);
    /* Nothing above was recorded or counted. */
    lg_stats st;
    CHECK_STATUS(lg_guard_stats(g, &st), LG_OK);
    CHECK(st.occupancy == 0);
    CHECK(st.allow + st.challenge + st.deny + st.reset_required == 0);
    lg_inspection in;
    lg_attempt alice = attempt_of("alice", "203.0.113.7", NULL);
    CHECK_STATUS(lg_guard_inspect(g, &alice, &in), LG_OK);
    CHECK(in.dimensions_len == 4); /* account, account_ip, ip, ip_range */
    for (size_t i = 0; i < in.dimensions_len; i++) CHECK(!in.dimensions[i].tracked && in.dimensions[i].failures == 0);
    lg_guard_free(g);
    bad_policies();
    status_messages();
    return report("bad_input");
}
