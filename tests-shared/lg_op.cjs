// One operation on the guard of a policy file, through the Node binding; prints the
// decision as JSON. Usage: node lg_op.cjs POLICY_FILE record-failure|check|reset-account ACCOUNT IP
const { Guard } = require('../bindings-node/loginguard.js')

const [policy, op, account, ip] = process.argv.slice(2)
const guard = Guard.fromPolicyFile(policy)
if (op === 'reset-account') {
  guard.resetAccount(account)
  console.log(JSON.stringify({ reset_account: account }))
} else {
  const d = op === 'record-failure' ? guard.recordFailure({ account, ip }) : guard.check({ account, ip })
  console.log(
    JSON.stringify({ action: d.action, reason: d.reason ?? null, failures: d.failures, degraded: d.degraded }),
  )
}
