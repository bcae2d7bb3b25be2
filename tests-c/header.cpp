// include/loginguard.h compiled as C++ (-std=c++17 -pedantic -Werror) and linked.
#include "loginguard.h"

#include <cstdio>
#include <cstring>

int main() {
    lg_guard *g = nullptr;
    if (lg_guard_new_manual_clock(nullptr, 0, &g) != LG_OK) return 1;
    const char *account = "alice";
    lg_attempt a{};
    a.account = reinterpret_cast<const uint8_t *>(account);
    a.account_len = std::strlen(account);
    lg_decision d{};
    lg_status s = lg_guard_record_failure(g, &a, &d);
    bool ok = s == LG_OK && d.action == LG_ACTION_ALLOW && d.reason == LG_REASON_NONE && d.failures == 1;
    lg_guard_free(g);
    std::printf("header as C++: %d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
