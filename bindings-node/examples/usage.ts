// Type-checked by `tsc --noEmit` in `make test-node`: the public types as an application uses them.
import express from 'express'
import {
  Guard,
  letsPasswordBeChecked,
  type Decision,
  type GuardEvent,
  type LoginGuardError,
  type PolicyObject,
} from 'loginguard'
import loginguard, { refusalBody, type RefusalBody } from 'loginguard/express'

const guard = new Guard({ policy: '[account]\nchallenge_after = 3\n' })
const strict: PolicyObject = {
  deny_cidrs: ['192.0.2.0/24'],
  account: { challenge_after: 2, reset_after: false },
  account_ip: { lock_after: 5, lock_for: '30s', lock_max: '1h' },
}
const strictGuard = new Guard({ policy: strict, manualClock: true })
strictGuard.advanceMs(1000)

guard.on('event', (event: GuardEvent) => {
  if (event.kind === 'lock') console.log(`locked ${event.dimension} until ${event.lockUntilMs}`)
})

function describe(d: Decision): string {
  switch (d.action) {
    case 'allow':
      return 'check the password'
    case 'challenge':
      return `show a CAPTCHA (${d.reason})`
    case 'deny':
      return d.retryAfterMs === null ? 'refused' : `retry in ${Math.ceil(d.retryAfterMs / 1000)} s`
    case 'reset_required':
      return 'reset your password'
  }
}

const attempt = { account: 'alice', ip: '203.0.113.7' }
const decision = guard.begin({ ...attempt, challengePassed: false })
if (letsPasswordBeChecked(decision)) guard.recordSuccess({ ...attempt, afterBegin: true })
console.log(describe(guard.recordFailure(attempt)), guard.inspect(attempt).dimensions.length, guard.stats().occupancy)

try {
  guard.check({ account: 'alice', ip: 'not-an-ip' })
} catch (err) {
  const code: LoginGuardError['code'] = (err as LoginGuardError).code
  console.log(code)
}

const app = express()
const passwordHashes = new Map<string, string>([['alice', 'argon2id$...']])
app.post(
  '/login',
  express.urlencoded({ extended: false }),
  loginguard({
    guard,
    account: (req) => (typeof req.body.username === 'string' ? req.body.username.trim().toLowerCase() : undefined),
    verifyCaptcha: async (req, { signal }) => {
      const res = await fetch('https://captcha.example/verify', { method: 'POST', body: String(req.body.captcha), signal })
      return res.ok
    },
    captchaTimeoutMs: 5000,
    deviceCookie: {
      secret: 'change me',
      name: 'device',
      maxAgeMs: 30 * 24 * 3600 * 1000,
      accountSecret: (account) => passwordHashes.get(account),
    },
  }),
  (req, res) => {
    const account: string | undefined = req.loginguard?.account
    const ok = account !== undefined && req.body.password === 'correct horse'
    if (ok) {
      req.loginguard?.success()
      return res.status(200).end()
    }
    const now = req.loginguard?.failure()
    // The next step, in the words the middleware refuses with (null: just a wrong password).
    const next: RefusalBody | null = now ? refusalBody(now, { passwordResetUrl: '/password-reset' }) : null
    if (next?.error === 'too_many_attempts') console.log(`retry in ${next.retryAfterSeconds} s`)
    res.status(401).json({ error: 'invalid_credentials', next })
  },
)
