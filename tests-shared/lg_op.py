"""One operation on the guard of a policy file, through the Python binding; prints the
decision as JSON. Usage: lg_op.py POLICY_FILE record-failure|check|reset-account ACCOUNT IP"""

import json
import sys

import loginguard

policy, op, account, ip = sys.argv[1:5]
guard = loginguard.Guard.from_policy_file(policy)
if op == "reset-account":
    guard.reset_account(account)
    print(json.dumps({"reset_account": account}))
else:
    fn = guard.record_failure if op == "record-failure" else guard.check
    d = fn(account=account, ip=ip)
    reason = None if d.reason is None else d.reason.value
    print(
        json.dumps(
            {
                "action": d.action.value,
                "reason": reason,
                "failures": d.failures,
                "degraded": d.degraded,
            }
        )
    )
