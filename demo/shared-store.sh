#!/usr/bin/env bash
# Several processes, one table: each command below is a separate process.
set -euo pipefail
lg=${LOGINGUARD:-target/release/loginguard}
policy=demo/shared.toml
rm -rf target/demo && mkdir -p target/demo
echo "== four worker processes each see one failed login of alice from 203.0.113.7"
for worker in 1 2 3 4; do
  printf 'worker %s: ' "$worker"
  "$lg" record-failure --policy "$policy" --account alice --ip 203.0.113.7
done
echo
echo "== support looks her up (another process)"
"$lg" inspect --policy "$policy" --account alice --ip 203.0.113.7
echo
echo "== two simulations at once on the same store, then its statistics"
"$lg" simulate --policy "$policy" --minutes 10 --users 200 > target/demo/sim-a.txt &
"$lg" simulate --policy "$policy" --minutes 10 --users 200 > target/demo/sim-b.txt &
wait
grep -h "brute force" target/demo/sim-a.txt target/demo/sim-b.txt
"$lg" stats --policy "$policy"
echo
echo "== support unlocks alice"
"$lg" reset-account --policy "$policy" alice
"$lg" inspect --policy "$policy" --account alice
