/* One operation on the guard of a policy file, through the C ABI; prints the decision as
 * JSON. Usage: lg_op POLICY_FILE record-failure|check|reset-account ACCOUNT IP */
#include <loginguard.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? 2 * cap : 4096;
            char *grown = realloc(buf, cap);
            if (!grown) break;
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) break;
        *len += n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s POLICY_FILE record-failure|check|reset-account ACCOUNT IP\n", argv[0]);
        return 2;
    }
    const char *op = argv[2], *account = argv[3], *ip = argv[4];
    size_t toml_len;
    char *toml = read_file(argv[1], &toml_len);
    if (!toml) {
        perror(argv[1]);
        return 1;
    }
    char message[512];
    lg_guard *guard = NULL;
    lg_status st = lg_guard_new_with_message((const uint8_t *)toml, toml_len, false, &guard,
                                             message, sizeof message);
    free(toml);
    if (st != LG_OK) {
        fprintf(stderr, "lg_guard_new: %s\n", message);
        return 1;
    }
    if (strcmp(op, "reset-account") == 0) {
        st = lg_guard_reset_account(guard, (const uint8_t *)account, strlen(account));
        if (st == LG_OK) printf("{\"reset_account\": \"%s\"}\n", account);
    } else {
        lg_attempt a = {
            .account = (const uint8_t *)account, .account_len = strlen(account),
            .ip = (const uint8_t *)ip, .ip_len = strlen(ip),
        };
        lg_decision d;
        if (strcmp(op, "record-failure") == 0) {
            st = lg_guard_record_failure(guard, &a, &d);
        } else if (strcmp(op, "check") == 0) {
            st = lg_guard_check(guard, &a, &d);
        } else {
            fprintf(stderr, "unknown operation %s\n", op);
            lg_guard_free(guard);
            return 2;
        }
        if (st == LG_OK) {
            const char *q = d.reason == LG_REASON_NONE ? "" : "\"";
            printf("{\"action\": \"%s\", \"reason\": %s%s%s, \"failures\": %u, \"degraded\": %s}\n",
                   lg_action_name(d.action), q,
                   d.reason == LG_REASON_NONE ? "null" : lg_reason_name(d.reason), q,
                   (unsigned)d.failures, d.degraded ? "true" : "false");
        }
    }
    lg_guard_free(guard);
    if (st != LG_OK) {
        fprintf(stderr, "%s: %s\n", op, lg_status_message(st));
        return 1;
    }
    return 0;
}
