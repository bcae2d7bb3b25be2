// The deadline around verifyCaptcha(req), over real HTTP, with mocked timers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const express = require('express')
const { Guard } = require('../loginguard.js')
const loginguard = require('../express.js')

async function start(t, options) {
  const guard = new Guard({ manualClock: true })
  const app = express()
  const seen = { route: 0 }
  app.post('/login', express.json(), loginguard({ guard, ...options }), (req, res) => {
    seen.route++
    req.loginguard.failure()
    res.status(401).json({ error: 'invalid_credentials' })
  })
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  const url = `http://127.0.0.1:${server.address().port}/login`
  const post = async (body) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  // Four failures: the next attempt on carol faces a CAPTCHA.
  for (let i = 0; i < 4; i++) assert.equal((await post({ username: 'carol' })).status, 401)
  return { guard, post, seen }
}

// The test's own timeout only ends a run without a deadline (which would wait forever).
test('a verifier that never answers fails closed when captchaTimeoutMs expires, and is told so', { timeout: 20_000 }, async (t) => {
  let signal
  let asked
  const verifying = new Promise((resolve) => {
    asked = resolve
  })
  const app = await start(t, {
    captchaTimeoutMs: 5000,
    verifyCaptcha: (req, context) => {
      signal = context.signal
      asked()
      return new Promise(() => {})
    },
  })
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const pending = app.post({ username: 'carol', captcha: 'anything' })
  await verifying
  assert.equal(signal.aborted, false)
  t.mock.timers.tick(5000)
  const r = await pending
  assert.deepEqual([r.status, r.body.error], [403, 'challenge_required'])
  assert.equal(signal.aborted, true, 'the verifier can cancel its request to the CAPTCHA service')
  assert.equal(app.seen.route, 4, 'the password was not checked')
  assert.equal(app.guard.inspect({ account: 'carol' }).dimensions[0].failures, 4, 'nothing more recorded')
})

test('a verifier that answers in time is not cut short', async (t) => {
  const app = await start(t, { captchaTimeoutMs: 5000, verifyCaptcha: async (req) => req.body.captcha === 'solved' })
  assert.equal((await app.post({ username: 'carol', captcha: 'solved' })).status, 401)
  assert.equal(app.seen.route, 5)
})

test('the factory refuses a captchaTimeoutMs that is not a positive finite number', () => {
  for (const captchaTimeoutMs of [0, -1, Infinity, Number.NaN, 2 ** 31, '10s']) {
    assert.throws(() => loginguard({ guard: new Guard(), captchaTimeoutMs }), { code: 'ERR_LOGINGUARD_TYPE' }, String(captchaTimeoutMs))
  }
})
