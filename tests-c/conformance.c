/* Replays every conformance case (conformance/README.md) through the C ABI. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>

#include "check.h"

/* A percent-decoded value: bytes and length (owned, NUL-terminated for convenience). */
typedef struct {
    char *bytes;
    size_t len;
} value;

static value decode(const char *v) {
    size_t n = strlen(v);
    value out = {malloc(n + 1), 0};
    for (size_t i = 0; i < n;) {
        if (v[i] == '%' && i + 2 < n) {
            char hex[3] = {v[i + 1], v[i + 2], 0};
            out.bytes[out.len++] = (char)strtol(hex, NULL, 16);
            i += 3;
        } else {
            out.bytes[out.len++] = v[i++];
        }
    }
    out.bytes[out.len] = 0;
    return out;
}

typedef struct {
    value account, ip, device;
    bool has_account, has_ip, has_device;
    bool passed, after_begin;
} args;

static void free_args(args *a) {
    free(a->account.bytes);
    free(a->ip.bytes);
    free(a->device.bytes);
}

static args parse_args(char **words, int n) {
    args a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < n; i++) {
        char *w = words[i];
        if (strncmp(w, "account=", 8) == 0) {
            a.account = decode(w + 8);
            a.has_account = true;
        } else if (strncmp(w, "ip=", 3) == 0) {
            a.ip = decode(w + 3);
            a.has_ip = true;
        } else if (strncmp(w, "device=", 7) == 0) {
            a.device = decode(w + 7);
            a.has_device = true;
        } else if (strcmp(w, "passed") == 0) {
            a.passed = true;
        } else if (strcmp(w, "after_begin") == 0) {
            a.after_begin = true;
        } else {
            fprintf(stderr, "unknown argument %s\n", w);
            exit(2);
        }
    }
    return a;
}

static lg_attempt to_attempt(const args *a) {
    lg_attempt at;
    memset(&at, 0, sizeof at);
    if (a->has_account) {
        at.account = (const uint8_t *)a->account.bytes;
        at.account_len = a->account.len;
    }
    if (a->has_ip) {
        at.ip = (const uint8_t *)a->ip.bytes;
        at.ip_len = a->ip.len;
    }
    if (a->has_device) {
        at.device = (const uint8_t *)a->device.bytes;
        at.device_len = a->device.len;
    }
    return at;
}

static const char *error_kind(lg_status s) {
    switch (s) {
    case LG_ERR_INVALID_ATTEMPT: return "invalid_attempt";
    case LG_ERR_INVALID_IP: return "invalid_ip";
    case LG_ERR_INVALID_UTF8: return "invalid_utf8";
    case LG_ERR_POLICY: return "policy";
    case LG_ERR_STORE: return "store";
    default: return lg_status_message(s);
    }
}

static void render(char *out, size_t cap, lg_status s, const lg_decision *d) {
    if (s != LG_OK) {
        snprintf(out, cap, "error %s", error_kind(s));
        return;
    }
    int n = snprintf(out, cap, "%s", lg_action_name(d->action));
    if (d->reason != LG_REASON_NONE) n += snprintf(out + n, cap - n, " %s", lg_reason_name(d->reason));
    if (d->has_retry) n += snprintf(out + n, cap - n, " retry=%llu", (unsigned long long)d->retry_after_ms);
    snprintf(out + n, cap - n, " failures=%u", d->failures);
}

typedef struct {
    const lg_guard *guard;
    const args *a;
    pthread_barrier_t *barrier;
    int through;
    lg_status status;
} begin_job;

static void *begin_thread(void *p) {
    begin_job *job = p;
    lg_attempt at = to_attempt(job->a);
    lg_decision d;
    pthread_barrier_wait(job->barrier);
    job->status = lg_guard_begin(job->guard, &at, job->a->passed, &d);
    job->through = job->status == LG_OK && lg_decision_lets_password_be_checked(&d, job->a->passed);
    return NULL;
}

static int split(char *line, char **words, int max) {
    int n = 0;
    for (char *w = strtok(line, " \t"); w && n < max; w = strtok(NULL, " \t")) words[n++] = w;
    return n;
}

/* Runs one case; returns the number of mismatches. */
static int run_case(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    char *policy = calloc(1, 1);
    size_t policy_len = 0;
    lg_guard *g = NULL;
    int mismatches = 0, lineno = 0;
    char *raw = NULL;
    size_t raw_cap = 0;
    ssize_t got_len;
    while ((got_len = getline(&raw, &raw_cap, f)) >= 0) {
        lineno++;
        char *line = raw;
        while (*line == ' ' || *line == '\t') line++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        if (strncmp(line, "policy ", 7) == 0) {
            size_t add = strlen(line + 7);
            policy = realloc(policy, policy_len + add + 2);
            memcpy(policy + policy_len, line + 7, add);
            policy_len += add;
            policy[policy_len++] = '\n';
            policy[policy_len] = 0;
            continue;
        }
        if (!g) {
            g = manual_guard(policy);
            if (!g) {
                mismatches++;
                break;
            }
        }
        char shown[4096];
        snprintf(shown, sizeof shown, "%s", line);
        char *expect = NULL;
        char *arrow = strstr(line, " -> ");
        if (arrow) {
            *arrow = 0;
            expect = arrow + 4;
            while (*expect == ' ') expect++;
        }
        char *words[16];
        int n = split(line, words, 16);
        int times = 1;
        if (strcmp(words[0], "repeat") == 0) {
            times = atoi(words[1]);
            memmove(words, words + 2, (size_t)(n - 2) * sizeof *words);
            n -= 2;
        }
        const char *op = words[0];
        char got[256] = "";
        bool has_result = false;
        for (int t = 0; t < times; t++) {
            if (strcmp(op, "advance") == 0) {
                CHECK_STATUS(lg_guard_advance_ms(g, strtoull(words[1], NULL, 10)), LG_OK);
            } else if (strcmp(op, "reset_account") == 0) {
                value v = decode(words[1]);
                CHECK_STATUS(lg_guard_reset_account(g, (const uint8_t *)v.bytes, v.len), LG_OK);
                free(v.bytes);
            } else if (strcmp(op, "reset_ip") == 0) {
                value v = decode(words[1]);
                CHECK_STATUS(lg_guard_reset_ip(g, (const uint8_t *)v.bytes, v.len), LG_OK);
                free(v.bytes);
            } else if (strcmp(op, "check") == 0 || strcmp(op, "begin") == 0 ||
                       strcmp(op, "failure") == 0 || strcmp(op, "success") == 0) {
                args a = parse_args(words + 1, n - 1);
                lg_attempt at = to_attempt(&a);
                lg_decision d;
                memset(&d, 0, sizeof d);
                lg_status s;
                if (strcmp(op, "check") == 0) {
                    s = lg_guard_check(g, &at, &d);
                } else if (strcmp(op, "begin") == 0) {
                    s = lg_guard_begin(g, &at, a.passed, &d);
                } else if (strcmp(op, "failure") == 0) {
                    s = lg_guard_record_failure(g, &at, &d);
                } else {
                    s = lg_guard_record_success(g, &at, a.after_begin);
                    d.action = LG_ACTION_ALLOW; /* successes have no decision; not compared */
                }
                render(got, sizeof got, s, &d);
                has_result = true;
                free_args(&a);
            } else if (strcmp(op, "concurrent") == 0) {
                int threads = atoi(words[1]);
                args a = parse_args(words + 3, n - 3);
                pthread_barrier_t barrier;
                pthread_barrier_init(&barrier, NULL, (unsigned)threads);
                begin_job *jobs = calloc((size_t)threads, sizeof *jobs);
                pthread_t *ids = calloc((size_t)threads, sizeof *ids);
                for (int i = 0; i < threads; i++) {
                    jobs[i] = (begin_job){g, &a, &barrier, 0, LG_OK};
                    pthread_create(&ids[i], NULL, begin_thread, &jobs[i]);
                }
                int through = 0;
                for (int i = 0; i < threads; i++) {
                    pthread_join(ids[i], NULL);
                    CHECK_STATUS(jobs[i].status, LG_OK);
                    through += jobs[i].through;
                }
                pthread_barrier_destroy(&barrier);
                free(jobs);
                free(ids);
                free_args(&a);
                snprintf(got, sizeof got, "through %d", through);
                has_result = true;
            } else {
                fprintf(stderr, "%s:%d: unknown step %s\n", path, lineno, op);
                mismatches++;
            }
        }
        if (expect) {
            if (!has_result || strcmp(got, expect) != 0) {
                fprintf(stderr, "%s:%d: expected `%s`, got `%s`\n    %.200s\n", path, lineno, expect, got, shown);
                mismatches++;
            }
        }
    }
    free(raw);
    free(policy);
    lg_guard_free(g);
    fclose(f);
    return mismatches;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "conformance";
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 2;
    }
    char *names[512];
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) && count < 512;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".lgc") == 0) names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, by_name);
    int cases_passed = 0, cases_failed = 0;
    for (int i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (run_case(path) == 0) {
            cases_passed++;
        } else {
            cases_failed++;
        }
        free(names[i]);
    }
    CHECK(count >= 38);
    printf("conformance cases: %d passed, %d failed\n", cases_passed, cases_failed);
    return report("conformance") || cases_failed != 0;
}
