/* A login handler guarded by loginguard: begin before the password check,
 * record_success after a good one, and an audit log from the event listener.
 *
 *   cc login.c $(pkg-config --cflags --libs loginguard) -o login && ./login
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <loginguard.h>

static const char *POLICY =
    "[account]\n"
    "challenge_after = 3\n"
    "lock_after = 5\n"
    "lock_for = \"15m\"\n"
    "[store]\n"
    "capacity = 65536\n";

/* Stands in for the application's password check. */
static bool password_ok(const char *user, const char *password) {
    return strcmp(user, "alice") == 0 && strcmp(password, "correct horse") == 0;
}

/* The audit log: called on the thread whose call caused the event. */
static void audit(const lg_event *e, void *user_data) {
    FILE *log = user_data;
    fprintf(log, "audit: %s", lg_event_kind_name(e->kind));
    if (e->has_dimension) fprintf(log, " on %s", lg_dimension_name(e->dimension));
    if (e->account_len) fprintf(log, " account=%.*s", (int)e->account_len, (const char *)e->account);
    if (e->ip[0]) fprintf(log, " ip=%s", e->ip);
    fprintf(log, " failures=%u\n", e->failures);
}

/* Handles one login request; returns the HTTP status it would answer. The
 * client address comes as a server holds it: a sockaddr_in. */
static int handle_login(const lg_guard *guard, const char *user, const struct sockaddr_in *peer,
                        const char *password, bool captcha_passed) {
    lg_attempt attempt = {0};
    attempt.account = (const uint8_t *)user;
    attempt.account_len = strlen(user);
    attempt.ip_bytes = (const uint8_t *)&peer->sin_addr.s_addr; /* network order */
    attempt.ip_bytes_len = 4;

    lg_decision d;
    lg_status s = lg_guard_begin(guard, &attempt, captcha_passed, &d);
    if (s != LG_OK) {
        printf("  400 bad request: %s\n", lg_status_message(s));
        return 400;
    }
    if (!lg_decision_lets_password_be_checked(&d, captcha_passed)) {
        switch (d.action) {
        case LG_ACTION_CHALLENGE:
            printf("  401 solve the CAPTCHA first (%s, %u failures)\n", lg_reason_name(d.reason), d.failures);
            return 401;
        case LG_ACTION_DENY:
            if (d.reason == LG_REASON_DENYLIST) {
                printf("  403 forbidden\n");
                return 403;
            }
            printf("  429 too many attempts on this %s; Retry-After: %llu\n",
                   d.reason == LG_REASON_IP || d.reason == LG_REASON_IP_RANGE ? "network" : "account",
                   (unsigned long long)(d.retry_after_ms + 999) / 1000);
            return 429;
        default:
            printf("  403 reset your password to log in again\n");
            return 403;
        }
    }
    /* begin already counted this attempt as a failure; a success takes it back. */
    if (password_ok(user, password)) {
        s = lg_guard_record_success(guard, &attempt, true);
        printf("  200 welcome, %s\n", user);
        return s == LG_OK ? 200 : 500;
    }
    printf("  401 wrong password\n");
    return 401;
}

int main(void) {
    lg_guard *guard = NULL;
    char message[256];
    lg_status s = lg_guard_new_with_message((const uint8_t *)POLICY, strlen(POLICY), false, &guard, message,
                                            sizeof message);
    if (s != LG_OK) {
        fprintf(stderr, "loginguard: %s\n", message);
        return 1;
    }
    lg_guard_set_listener(guard, audit, stdout);

    struct sockaddr_in attacker = {.sin_family = AF_INET}, owner = {.sin_family = AF_INET};
    inet_pton(AF_INET, "203.0.113.66", &attacker.sin_addr);
    inet_pton(AF_INET, "198.51.100.7", &owner.sin_addr);

    int ok = 1;
    printf("alice logs in:\n");
    ok &= handle_login(guard, "alice", &owner, "correct horse", false) == 200;
    printf("an attacker guesses alice's password:\n");
    int last = 0;
    for (int i = 0; i < 8; i++) last = handle_login(guard, "alice", &attacker, i < 3 ? "123456" : "letmein", i >= 3);
    ok &= last == 429;
    printf("alice, from her own network, is locked too (the account is under attack):\n");
    ok &= handle_login(guard, "alice", &owner, "correct horse", true) == 429;
    printf("support unlocks the account:\n");
    ok &= lg_guard_reset_account(guard, (const uint8_t *)"alice", 5) == LG_OK;
    ok &= handle_login(guard, "alice", &owner, "correct horse", false) == 200;

    lg_stats st;
    if (lg_guard_stats(guard, &st) == LG_OK)
        printf("stats: %zu keys tracked, %llu allowed, %llu challenged, %llu denied\n", st.occupancy,
               (unsigned long long)st.allow, (unsigned long long)st.challenge, (unsigned long long)st.deny);
    lg_guard_free(guard);
    return ok ? 0 : 1;
}
