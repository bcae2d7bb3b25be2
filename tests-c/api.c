/* Each operation through the C ABI: decisions, clock, resets, inspect, stats, events. */
#include "check.h"

typedef struct {
    int count;
    lg_event_kind kinds[16];
    lg_dimension dimensions[16];
    bool has_dimension[16];
    char accounts[16][32];
    char ips[16][LG_IP_TEXT_MAX];
    size_t ip_bytes_len[16];
    uint32_t failures[16];
    bool has_lock_until[16];
    uint64_t lock_until[16];
} events;

static void on_event(const lg_event *e, void *user_data) {
    events *ev = user_data;
    if (ev->count >= 16) return;
    int i = ev->count++;
    ev->kinds[i] = e->kind;
    ev->dimensions[i] = e->dimension;
    ev->has_dimension[i] = e->has_dimension;
    snprintf(ev->accounts[i], sizeof ev->accounts[i], "%.*s", (int)e->account_len, (const char *)e->account);
    memcpy(ev->ips[i], e->ip, LG_IP_TEXT_MAX);
    ev->ip_bytes_len[i] = e->ip_bytes_len;
    ev->failures[i] = e->failures;
    ev->has_lock_until[i] = e->has_lock_until;
    ev->lock_until[i] = e->lock_until_ms;
}

static lg_decision must(lg_status s, lg_decision d) {
    CHECK_STATUS(s, LG_OK);
    return d;
}

#define FAIL(g, a) (must(lg_guard_record_failure((g), (a), &d), d))
#define CHECKD(g, a) (must(lg_guard_check((g), (a), &d), d))

static const char *POLICY =
    "[account]\nchallenge_after = 2\nlock_after = 4\nlock_for = \"1m\"\nreset_after = 8\n"
    "[account_ip]\nenabled = false\n"
    "[ip]\nchallenge_after = false\nlock_after = 3\nlock_for = \"30s\"\n"
    "[ip_range]\nenabled = false\n"
    "[store]\ncapacity = 4096\n";

static void decisions_and_clock(void) {
    lg_guard *g = manual_guard(POLICY);
    lg_decision d;
    lg_attempt alice = attempt_of("alice", "203.0.113.7", NULL);
    events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_STATUS(lg_guard_set_listener(g, on_event, &ev), LG_OK);

    d = CHECKD(g, &alice);
    CHECK(d.action == LG_ACTION_ALLOW && d.reason == LG_REASON_NONE && !d.has_retry && d.failures == 0);
    d = FAIL(g, &alice);
    d = FAIL(g, &alice);
    CHECK(d.action == LG_ACTION_ALLOW && d.failures == 2);
    d = FAIL(g, &alice);
    CHECK(d.action == LG_ACTION_CHALLENGE && d.reason == LG_REASON_ACCOUNT && d.failures == 3);
    CHECK(!lg_decision_lets_password_be_checked(&d, false));
    CHECK(lg_decision_lets_password_be_checked(&d, true));
    /* 4: the network's lock (past lock_after 3) starts first. */
    d = FAIL(g, &alice);
    CHECK(d.action == LG_ACTION_DENY && d.reason == LG_REASON_IP && d.has_retry);
    CHECK(d.retry_after_ms == 30000 && d.failures == 4);
    d = FAIL(g, &alice); /* 5: the account's longer lock wins */
    CHECK(d.action == LG_ACTION_DENY && d.reason == LG_REASON_ACCOUNT && d.retry_after_ms == 60000);

    CHECK_STATUS(lg_guard_advance_ms(g, 15000), LG_OK);
    uint64_t now = 0;
    CHECK_STATUS(lg_guard_now_ms(g, &now), LG_OK);
    CHECK(now == 15000);
    d = CHECKD(g, &alice);
    CHECK(d.action == LG_ACTION_DENY && !lg_decision_lets_password_be_checked(&d, true));

    lg_inspection in;
    CHECK_STATUS(lg_guard_inspect(g, &alice, &in), LG_OK);
    CHECK(in.decision.action == d.action && in.decision.retry_after_ms == d.retry_after_ms);
    CHECK(!in.denylisted && in.dimensions_len == 2);
    CHECK(in.dimensions[0].dimension == LG_DIMENSION_ACCOUNT && in.dimensions[0].tracked);
    CHECK(in.dimensions[0].failures == 5 && in.dimensions[0].consecutive == 5);
    CHECK(in.dimensions[0].locked && in.dimensions[0].action == LG_ACTION_DENY);
    CHECK(in.dimensions[0].locked_until_ms == now + d.retry_after_ms);
    CHECK(in.dimensions[1].dimension == LG_DIMENSION_IP && in.dimensions[1].failures == 5);

    /* Events: challenge and lock on account, lock on ip, in order. */
    CHECK(ev.count >= 3);
    int challenge = -1, account_lock = -1, ip_lock = -1;
    for (int i = 0; i < ev.count; i++) {
        if (ev.kinds[i] == LG_EVENT_CHALLENGE && ev.dimensions[i] == LG_DIMENSION_ACCOUNT) challenge = i;
        if (ev.kinds[i] == LG_EVENT_LOCK && ev.dimensions[i] == LG_DIMENSION_ACCOUNT) account_lock = i;
        if (ev.kinds[i] == LG_EVENT_LOCK && ev.dimensions[i] == LG_DIMENSION_IP) ip_lock = i;
    }
    CHECK(challenge >= 0 && account_lock > challenge && ip_lock >= 0);
    if (challenge >= 0) {
        CHECK(ev.has_dimension[challenge] && ev.failures[challenge] == 3 && !ev.has_lock_until[challenge]);
        CHECK(strcmp(ev.accounts[challenge], "alice") == 0 && strcmp(ev.ips[challenge], "203.0.113.7") == 0);
        CHECK(ev.ip_bytes_len[challenge] == 4);
    }
    if (account_lock >= 0) CHECK(ev.has_lock_until[account_lock] && ev.lock_until[account_lock] == 60000);

    /* Resets clear and are reported. */
    int before = ev.count;
    CHECK_STATUS(lg_guard_reset_account(g, (const uint8_t *)"ALICE ", 6), LG_OK); /* fold: same account */
    CHECK(ev.count == before + 1 && ev.kinds[before] == LG_EVENT_RESET_ACCOUNT && !ev.has_dimension[before]);
    CHECK(strcmp(ev.accounts[before], "ALICE ") == 0);
    d = CHECKD(g, &alice);
    CHECK(d.action == LG_ACTION_DENY && d.reason == LG_REASON_IP && d.retry_after_ms == 15000); /* ip lock on */
    const uint8_t raw[4] = {203, 0, 113, 7};
    CHECK_STATUS(lg_guard_reset_ip_bytes(g, raw, sizeof raw), LG_OK);
    CHECK(ev.kinds[ev.count - 1] == LG_EVENT_RESET_IP && strcmp(ev.ips[ev.count - 1], "203.0.113.7") == 0);
    d = CHECKD(g, &alice);
    CHECK(d.action == LG_ACTION_ALLOW && d.failures == 0);

    /* A NULL callback removes the listener. */
    CHECK_STATUS(lg_guard_set_listener(g, NULL, NULL), LG_OK);
    before = ev.count;
    CHECK_STATUS(lg_guard_reset_ip(g, (const uint8_t *)"203.0.113.7", 11), LG_OK);
    CHECK(ev.count == before);

    lg_stats st;
    CHECK_STATUS(lg_guard_stats(g, &st), LG_OK);
    CHECK(st.capacity >= 4096 && st.memory_bytes >= st.capacity * 16);
    CHECK(st.allow == 4 && st.challenge == 1 && st.deny == 4 && st.reset_required == 0);
    lg_guard_free(g);
}

static void ip_forms_and_begin(void) {
    lg_guard *g = manual_guard("[ip]\nchallenge_after = 1\n[store]\ncapacity = 1024\n");
    lg_decision d;
    /* Text and raw bytes name the same network; IPv4-mapped IPv6 counts as IPv4. */
    lg_attempt text = attempt_of(NULL, "198.51.100.9", NULL);
    lg_attempt bytes = text;
    const uint8_t v4[4] = {198, 51, 100, 9};
    bytes.ip = NULL;
    bytes.ip_len = 0;
    bytes.ip_bytes = v4;
    bytes.ip_bytes_len = 4;
    lg_attempt mapped = bytes;
    const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9};
    mapped.ip_bytes = v6;
    mapped.ip_bytes_len = 16;
    d = FAIL(g, &text);
    CHECK(d.failures == 0 && d.action == LG_ACTION_ALLOW); /* no account: allow reports 0 */
    d = FAIL(g, &bytes);
    CHECK(d.action == LG_ACTION_CHALLENGE && d.reason == LG_REASON_IP && d.failures == 2);
    d = FAIL(g, &mapped);
    CHECK(d.action == LG_ACTION_CHALLENGE && d.failures == 3);

    /* begin records in advance; a success after begin takes the advance back. */
    lg_attempt bob = attempt_of("bob", "2001:db8::1", NULL);
    d = must(lg_guard_begin(g, &bob, false, &d), d);
    CHECK(d.action == LG_ACTION_ALLOW && d.failures == 0);
    lg_inspection in;
    CHECK_STATUS(lg_guard_inspect(g, &bob, &in), LG_OK);
    CHECK(in.dimensions_len == 4 && in.dimensions[0].failures == 1); /* account, account_ip, ip, ip_range */
    CHECK_STATUS(lg_guard_record_success(g, &bob, true), LG_OK);
    CHECK_STATUS(lg_guard_inspect(g, &bob, &in), LG_OK);
    for (size_t i = 0; i < in.dimensions_len; i++) CHECK(in.dimensions[i].failures == 0);

    /* A trusted device is governed by the device dimension alone. */
    lg_attempt dev = attempt_of("bob", NULL, "cookie-1");
    d = FAIL(g, &dev);
    CHECK(d.action == LG_ACTION_ALLOW);
    CHECK_STATUS(lg_guard_inspect(g, &dev, &in), LG_OK);
    CHECK(in.dimensions_len == 1 && in.dimensions[0].dimension == LG_DIMENSION_DEVICE && in.dimensions[0].failures == 1);
    lg_guard_free(g);
}

static void denylist_and_names(void) {
    lg_guard *g = manual_guard("deny_cidrs = [\"192.0.2.0/24\"]\n[store]\ncapacity = 64\n");
    lg_decision d;
    lg_attempt a = attempt_of("carol", "192.0.2.77", NULL);
    d = FAIL(g, &a);
    CHECK(d.action == LG_ACTION_DENY && d.reason == LG_REASON_DENYLIST && !d.has_retry && d.retry_after_ms == 0);
    lg_inspection in;
    CHECK_STATUS(lg_guard_inspect(g, &a, &in), LG_OK);
    CHECK(in.denylisted && in.decision.reason == LG_REASON_DENYLIST);
    lg_guard_free(g);

    CHECK(strcmp(lg_action_name(LG_ACTION_ALLOW), "allow") == 0);
    CHECK(strcmp(lg_action_name(LG_ACTION_RESET_REQUIRED), "reset_required") == 0);
    CHECK(strcmp(lg_reason_name(LG_REASON_NONE), "none") == 0);
    CHECK(strcmp(lg_reason_name(LG_REASON_ACCOUNT_IP), "account_ip") == 0);
    CHECK(strcmp(lg_reason_name(LG_REASON_DENYLIST), "denylist") == 0);
    CHECK(strcmp(lg_dimension_name(LG_DIMENSION_DEVICE), "device") == 0);
    CHECK(strcmp(lg_status_message(LG_OK), "ok") == 0);
    CHECK(strcmp(lg_event_kind_name(LG_EVENT_RESET_REQUIRED), "reset_required") == 0);
    CHECK(strcmp(lg_event_kind_name(LG_EVENT_RESET_IP), "reset_ip") == 0);
    CHECK(strcmp(lg_event_kind_name(99), "unknown") == 0);
}

/* The ip_range dimension and the site-wide signal: reasons, dimension, events, state. */
static void ip_range_and_site(void) {
    lg_guard *g = manual_guard("[ip_range]\nchallenge_after = 2\n"
                               "[site]\nchallenge_when = \"4/1m\"\ncalm_for = \"1m\"\n");
    lg_decision d;
    events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_STATUS(lg_guard_set_listener(g, on_event, &ev), LG_OK);
    lg_site_state site;
    CHECK_STATUS(lg_guard_site_state(g, &site), LG_OK);
    CHECK(site.enabled && site.rate == 0 && site.trigger == 4 && site.per_ms == 60000 && !site.active);

    lg_attempt a1 = attempt_of("u1", "198.51.100.1", NULL);
    lg_attempt a2 = attempt_of("u2", "198.51.100.2", NULL);
    lg_attempt a3 = attempt_of("u3", "198.51.100.3", NULL);
    d = FAIL(g, &a1);
    d = FAIL(g, &a2);
    CHECK(d.action == LG_ACTION_ALLOW);
    d = FAIL(g, &a3);
    CHECK(d.action == LG_ACTION_CHALLENGE && d.reason == LG_REASON_IP_RANGE && d.failures == 3);
    lg_inspection in;
    CHECK_STATUS(lg_guard_inspect(g, &a3, &in), LG_OK);
    CHECK(in.dimensions_len == 4 && in.dimensions[3].dimension == LG_DIMENSION_IP_RANGE);
    CHECK(in.dimensions[3].failures == 3);

    lg_attempt far = attempt_of("u4", "192.0.2.1", NULL);
    d = FAIL(g, &far);
    CHECK(d.action == LG_ACTION_ALLOW && d.failures == 1);
    lg_attempt far2 = attempt_of("u5", "192.0.3.1", NULL);
    d = FAIL(g, &far2);
    CHECK(d.action == LG_ACTION_CHALLENGE && d.reason == LG_REASON_SITE && d.failures == 5);
    lg_attempt laptop = attempt_of("alice", "192.0.4.1", "laptop");
    d = CHECKD(g, &laptop);
    CHECK(d.action == LG_ACTION_ALLOW);
    CHECK_STATUS(lg_guard_site_state(g, &site), LG_OK);
    CHECK(site.active && site.rate == 5 && site.since_ms == 0);

    CHECK_STATUS(lg_guard_advance_ms(g, 120000), LG_OK); /* calm from 60s, ended 1m later */
    d = CHECKD(g, &far);
    CHECK(d.action == LG_ACTION_ALLOW);
    int started = -1, ended = -1;
    for (int i = 0; i < ev.count; i++) {
        if (ev.kinds[i] == LG_EVENT_SITE_ATTACK_STARTED) started = i;
        if (ev.kinds[i] == LG_EVENT_SITE_ATTACK_ENDED) ended = i;
    }
    CHECK(started >= 0 && ended > started);
    if (started >= 0) CHECK(!ev.has_dimension[started] && ev.failures[started] == 5 && ev.ip_bytes_len[started] == 0);

    /* reset_ip clears the network's ip counter and its range's ip_range counter. */
    CHECK_STATUS(lg_guard_reset_ip(g, (const uint8_t *)"198.51.100.9", 12), LG_OK);
    d = CHECKD(g, &a3);
    CHECK(d.action == LG_ACTION_ALLOW);
    lg_guard_free(g);

    g = manual_guard(NULL);
    CHECK_STATUS(lg_guard_site_state(g, &site), LG_OK);
    CHECK(!site.enabled && site.trigger == 0);
    CHECK_STATUS(lg_guard_site_state(g, NULL), LG_ERR_NULL);
    CHECK_STATUS(lg_guard_site_state(NULL, &site), LG_ERR_NULL);
    lg_guard_free(g);

    CHECK(strcmp(lg_reason_name(LG_REASON_IP_RANGE), "ip_range") == 0);
    CHECK(strcmp(lg_reason_name(LG_REASON_SITE), "site") == 0);
    CHECK(strcmp(lg_dimension_name(LG_DIMENSION_IP_RANGE), "ip_range") == 0);
    CHECK(strcmp(lg_event_kind_name(LG_EVENT_SITE_ATTACK_STARTED), "site_attack_started") == 0);
    CHECK(strcmp(lg_event_kind_name(LG_EVENT_SITE_ATTACK_ENDED), "site_attack_ended") == 0);
    /* Values are stable: appended, never reused. */
    CHECK(LG_REASON_DENYLIST == 5 && LG_REASON_IP_RANGE == 6 && LG_REASON_SITE == 7);
    CHECK(LG_DIMENSION_DEVICE == 3 && LG_DIMENSION_IP_RANGE == 4);
    CHECK(LG_EVENT_RESET_IP == 4 && LG_EVENT_SITE_ATTACK_STARTED == 5 && LG_EVENT_SITE_ATTACK_ENDED == 6);
}

static void default_policy_on_system_clock(void) {
    lg_guard *g = NULL;
    CHECK_STATUS(lg_guard_new(NULL, 0, &g), LG_OK);
    uint64_t now = 0;
    CHECK_STATUS(lg_guard_now_ms(g, &now), LG_OK);
    CHECK(now > 1600000000000ull); /* Unix epoch milliseconds */
    lg_stats st;
    CHECK_STATUS(lg_guard_stats(g, &st), LG_OK);
    CHECK(st.capacity >= 1048576 && st.occupancy == 0);
    lg_guard_free(g);
}

int main(void) {
    decisions_and_clock();
    ip_forms_and_begin();
    denylist_and_names();
    ip_range_and_site();
    default_policy_on_system_clock();
    return report("api");
}
