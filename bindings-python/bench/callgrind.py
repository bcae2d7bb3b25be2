"""Instructions per call of the Python binding's hot methods, counted by callgrind.

Wall-clock figures on a shared 2-core machine move by tens of percent between runs; an
instruction count does not. Each case runs a fixed loop twice under
`valgrind --tool=callgrind` (0 and LOOPS calls, same process setup) and reports the difference
divided by LOOPS: the interpreter's loop and call, the binding, and the core, per call.
Run it with `make bench-python-callgrind` (not part of `make test`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

LOOPS = int(os.environ.get("LG_CALLGRIND_LOOPS", "10000"))
# (label, setup, loop body); `acct` and `ip` vary per iteration like the zipf workload's text.
CASES = [
    ("begin, hot", "", "begin(account='user0@example.com', ip='10.0.0.7')"),
    ("begin, a new account and ip each call", "", "begin(account=acct[i], ip=ips[i])"),
    ("check, hot", "", "check(account='user0@example.com', ip='10.0.0.7')"),
    ("record_failure, hot", "", "fail(account='user0@example.com', ip='10.0.0.7')"),
    (
        "record_success, hot",
        "",
        "success(account='user0@example.com', ip='10.0.0.7', after_begin=True)",
    ),
    ("decision.action (getter)", "d = begin(account='a', ip='10.0.0.7')", "d.action"),
    ("empty loop (reference)", "", "pass"),
]

PROGRAM = """
import loginguard


def main():
    guard = loginguard.Guard()
    begin, check = guard.begin, guard.check
    fail, success = guard.record_failure, guard.record_success
    acct = [f"user{{i}}@example.com" for i in range({loops})]
    ips = [f"10.{{(i // 256) % 256}}.{{i % 256}}.7" for i in range({loops})]
    {setup}
    for i in range({n}):
        {body}


main()
"""


def instructions(setup: str, body: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                PROGRAM.format(n=n, loops=LOOPS, setup=setup, body=body),
            ],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # the same startup in both runs
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with open(out) as f:
            totals = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.MULTILINE)
        assert totals, "callgrind wrote no totals"
        return int(totals.group(1))


def main() -> None:
    version = sys.version.split()[0]
    print(f"instructions per call (callgrind, {LOOPS:,} calls minus 0 calls), Python {version}")
    print()
    print("| call | instructions/call |")
    print("|---|--:|")
    for label, setup, body in CASES:
        per_call = (instructions(setup, body, LOOPS) - instructions(setup, body, 0)) / LOOPS
        print(f"| {label} | {per_call:,.0f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
