# Joins `rust VARIANT NS` and `c VARIANT NS` lines into the bench table.
{ ns[$1, $2] = $3; if (!seen[$2]++) order[++n] = $2 }
END {
    printf "| variant | Rust API ns/attempt | C ABI ns/attempt | C / Rust |\n|---|---|---|---|\n"
    for (i = 1; i <= n; i++) {
        v = order[i]
        printf "| %s | %.1f | %.1f | %.2fx |\n", v, ns["rust", v], ns["c", v], ns["c", v] / ns["rust", v]
    }
}
