# Joins `rust VARIANT NS` and `c VARIANT NS` lines (several rounds) into the bench
# table: the median over the rounds of each side's per-round median.
function median(key,    n, i, j, t, v) {
    n = count[key]
    for (i = 1; i <= n; i++) v[i] = ns[key, i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{ key = $1 SUBSEP $2; ns[key, ++count[key]] = $3; if (!seen[$2]++) order[++variants] = $2 }
END {
    printf "| variant | Rust API ns/attempt | C ABI ns/attempt | C / Rust |\n|---|---|---|---|\n"
    for (i = 1; i <= variants; i++) {
        v = order[i]; r = median("rust" SUBSEP v); c = median("c" SUBSEP v)
        printf "| %s | %.1f | %.1f | %.2fx |\n", v, r, c, c / r
    }
}
