// A real Express app on 127.0.0.1 and real HTTP requests.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const express = require('express')
const { Guard } = require('../loginguard.js')
const loginguard = require('../express.js')
const { refusalBody } = require('../express.js')

const USERS = { alice: 'correct horse', bob: 'battery staple' }
const SECRET = 'test-device-secret'

async function start({ policy, trustProxy, deviceCookie = { secret: SECRET } } = {}) {
  const guard = new Guard({ policy, manualClock: true })
  const app = express()
  if (trustProxy !== undefined) app.set('trust proxy', trustProxy)
  app.post(
    '/login',
    express.urlencoded({ extended: false }),
    loginguard({
      guard,
      accountField: 'username',
      verifyCaptcha: async (req) => req.body.captcha === 'solved',
      deviceCookie,
      passwordResetUrl: '/password-reset',
    }),
    (req, res) => {
      const { username, password } = req.body
      if (Object.hasOwn(USERS, username) && USERS[username] === password) {
        req.loginguard.success()
        res.json({ ok: true })
      } else {
        req.loginguard.failure()
        res.status(401).json({ error: 'invalid_credentials' })
      }
    },
  )
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const base = `http://127.0.0.1:${server.address().port}`
  const login = async (fields, headers = {}) => {
    const res = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields),
    })
    return { status: res.status, body: await res.json(), headers: res.headers }
  }
  return { guard, login, close: () => new Promise((r) => server.close(r)) }
}

test('the seed story over HTTP: 4 failures, then a CAPTCHA, then a lock with Retry-After', async (t) => {
  const app = await start()
  t.after(app.close)
  for (let i = 0; i < 4; i++) {
    assert.equal((await app.login({ username: 'alice', password: 'guess' })).status, 401)
  }
  // More than 3 failures: the password is not even checked without a CAPTCHA.
  const challenged = await app.login({ username: 'alice', password: 'correct horse' })
  assert.deepEqual([challenged.status, challenged.body], [
    403,
    { error: 'challenge_required', reason: 'account', message: 'Complete the CAPTCHA to log in.' },
  ])
  const wrongCaptcha = await app.login({ username: 'alice', password: 'correct horse', captcha: 'nope' })
  assert.equal(wrongCaptcha.body.error, 'challenge_required')
  // With a solved CAPTCHA the attacker may go on guessing, up to the account_ip lock.
  for (let i = 0; i < 7; i++) {
    assert.equal((await app.login({ username: 'alice', password: 'guess', captcha: 'solved' })).status, 401)
  }
  const denied = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.equal(denied.status, 429)
  assert.equal(denied.headers.get('retry-after'), '60')
  assert.deepEqual(denied.body, {
    error: 'too_many_attempts',
    reason: 'account_ip',
    retryAfterSeconds: 60,
    message: 'Too many failed logins for this account from your network. Try again in 60 s.',
  })
  app.guard.advanceMs(59_001)
  const almost = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.equal(almost.headers.get('retry-after'), '1', 'seconds, rounded up')
  app.guard.advanceMs(999)
  const ok = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([ok.status, ok.body], [200, { ok: true }])
  assert.match(ok.headers.get('set-cookie'), /^loginguard_device=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/)
  // The success cleared alice's counters.
  assert.deepEqual(app.guard.check({ account: 'alice', ip: '127.0.0.1' }).action, 'allow')
})

test('refusalBody(decision) is the body the middleware refuses that decision with', async (t) => {
  const options = { passwordResetUrl: '/password-reset' }
  // The body sent over HTTP beside refusalBody of the decision the attempt faced (check changes nothing).
  const both = async (app, fields, ip, headers) => {
    const expected = refusalBody(app.guard.check({ account: fields.username, ip }), options)
    const got = await app.login(fields, headers)
    return [got.status, got.body, expected]
  }
  const app = await start()
  t.after(app.close)
  assert.equal(refusalBody(app.guard.check({ account: 'alice', ip: '127.0.0.1' })), null, 'allow')
  for (let i = 0; i < 4; i++) await app.login({ username: 'alice', password: 'guess' })
  const [status, body, expected] = await both(app, { username: 'alice', password: 'correct horse' }, '127.0.0.1')
  assert.equal(status, 403)
  assert.deepEqual(body, expected)
  assert.equal(expected.error, 'challenge_required')
  for (let i = 0; i < 7; i++) await app.login({ username: 'alice', password: 'guess', captcha: 'solved' })
  const denied = await both(app, { username: 'alice', password: 'correct horse', captcha: 'solved' }, '127.0.0.1')
  assert.equal(denied[0], 429)
  assert.deepEqual(denied[1], denied[2])
  assert.equal(denied[2].message, 'Too many failed logins for this account from your network. Try again in 60 s.')

  const other = await start({ policy: 'deny_cidrs = ["192.0.2.0/24"]\n[account]\nreset_after = 5', trustProxy: true })
  t.after(other.close)
  for (let i = 0; i < 6; i++) await other.login({ username: 'bob', password: 'guess', captcha: 'solved' })
  const reset = await both(other, { username: 'bob', password: 'battery staple', captcha: 'solved' }, '127.0.0.1')
  assert.deepEqual([reset[0], reset[1]], [403, reset[2]])
  assert.deepEqual([reset[2].error, reset[2].resetUrl], ['password_reset_required', '/password-reset'])
  assert.equal(refusalBody(other.guard.check({ account: 'bob' })).resetUrl, undefined, 'no resetUrl unless given')
  const listed = await both(other, { username: 'carol', password: 'x' }, '192.0.2.5', { 'x-forwarded-for': '192.0.2.5' })
  assert.deepEqual([listed[0], listed[1]], [403, listed[2]])
  assert.equal(listed[2].error, 'forbidden')
  assert.throws(() => refusalBody(undefined), { code: 'ERR_LOGINGUARD_TYPE' })
  // An AsyncGuard's decision not yet awaited (a Promise), or any object without a known
  // action, is refused: it must never read as a password reset.
  const pending = Promise.resolve({ action: 'allow', reason: null, retryAfterMs: null, failures: 0 })
  assert.throws(() => refusalBody(pending), { code: 'ERR_LOGINGUARD_TYPE', message: /await/ })
  assert.throws(() => refusalBody({ action: 'maybe' }), { code: 'ERR_LOGINGUARD_TYPE' })
})

test('unknown and known usernames get the same answers', async (t) => {
  const app = await start()
  t.after(app.close)
  const answers = async (username) => {
    const out = []
    for (let i = 0; i < 6; i++) {
      const r = await app.login({ username, password: 'guess' })
      out.push([r.status, r.body, r.headers.get('retry-after')])
    }
    return out
  }
  const known = await answers('bob')
  const unknown = await answers('nobody-by-this-name')
  assert.deepEqual(unknown, known)
  assert.equal(known[4][1].error, 'challenge_required')
})

test('a device cookie keeps its owner in during an attack; on another account it is ignored', async (t) => {
  const app = await start({ policy: '[account]\nreset_after = 5' })
  t.after(app.close)
  const first = await app.login({ username: 'alice', password: 'correct horse' })
  const cookie = first.headers.get('set-cookie').split(';')[0]
  // An attacker drives alice to reset_required.
  for (let i = 0; i < 6; i++) await app.login({ username: 'alice', password: 'guess', captcha: 'solved' })
  const browser = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([browser.status, browser.body.error, browser.body.resetUrl], [403, 'password_reset_required', '/password-reset'])
  // Alice on her trusted device: governed by the device counter alone.
  const trusted = await app.login({ username: 'alice', password: 'correct horse' }, { cookie })
  assert.deepEqual([trusted.status, trusted.body], [200, { ok: true }])
  const deviceId = (c) => c.split('=')[1].split('.')[0]
  assert.equal(deviceId(trusted.headers.get('set-cookie')), deviceId(cookie), 'the same device keeps its id')
  // The same cookie on bob: ignored, so bob's own counters decide.
  for (let i = 0; i < 4; i++) await app.login({ username: 'bob', password: 'guess' }, { cookie })
  const bob = await app.login({ username: 'bob', password: 'battery staple' }, { cookie })
  assert.deepEqual([bob.status, bob.body.error], [403, 'challenge_required'])
  assert.equal(app.guard.inspect({ account: 'bob', device: cookie.split('=')[1].split('.')[0] }).dimensions[0].failures, 0)
  // A tampered cookie is ignored too.
  const [name, value] = cookie.split('=')
  const tampered = `${name}=${value.slice(0, -2)}${value.endsWith('AA') ? 'BB' : 'AA'}`
  const forged = await app.login({ username: 'alice', password: 'correct horse' }, { cookie: tampered })
  assert.equal(forged.body.error, 'password_reset_required')
})

test('a spoofed X-Forwarded-For is ignored without trust proxy, honoured with it', async (t) => {
  const plain = await start()
  t.after(plain.close)
  await plain.login({ username: 'bob', password: 'guess' }, { 'x-forwarded-for': '203.0.113.50' })
  assert.equal(plain.guard.inspect({ ip: '127.0.0.1' }).dimensions[0].failures, 1)
  assert.equal(plain.guard.inspect({ ip: '203.0.113.50' }).dimensions[0].failures, 0)

  const proxied = await start({ trustProxy: 'loopback' })
  t.after(proxied.close)
  await proxied.login({ username: 'bob', password: 'guess' }, { 'x-forwarded-for': '203.0.113.50' })
  assert.equal(proxied.guard.inspect({ ip: '203.0.113.50' }).dimensions[0].failures, 1)
  assert.equal(proxied.guard.inspect({ ip: '127.0.0.1' }).dimensions[0].failures, 0)
})

test('the deny list answers 403 without Retry-After and records nothing', async (t) => {
  const app = await start({ policy: 'deny_cidrs = ["127.0.0.0/8"]' })
  t.after(app.close)
  const r = await app.login({ username: 'alice', password: 'correct horse' })
  assert.deepEqual(
    [r.status, r.body, r.headers.get('retry-after')],
    [403, { error: 'forbidden', reason: 'denylist', message: 'Logins from your network are not allowed.' }, null],
  )
  assert.equal(app.guard.stats().occupancy, 0)
})

test('a network spray is denied by ip, and a solved CAPTCHA does not lift it', async (t) => {
  const app = await start({ policy: '[ip]\nchallenge_after = 2\nlock_after = 4' })
  t.after(app.close)
  for (let i = 0; i < 5; i++) await app.login({ username: `user${i}`, password: 'x', captcha: 'solved' })
  const r = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.equal(r.status, 429)
  assert.equal(r.body.reason, 'ip')
  assert.equal(r.body.message, 'Too many failed logins from your network. Try again in 900 s.')
  assert.equal(r.headers.get('retry-after'), '900')
})

test('a verifier that throws fails closed; an over-long account is a 400', async (t) => {
  const guard = new Guard({ manualClock: true })
  const app = express()
  app.post(
    '/login',
    express.json(),
    loginguard({
      guard,
      verifyCaptcha: () => {
        throw new Error('captcha service down')
      },
    }),
    (req, res) => {
      req.loginguard.failure()
      res.status(401).json({ error: 'invalid_credentials' })
    },
  )
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  const url = `http://127.0.0.1:${server.address().port}/login`
  const post = async (body) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  for (let i = 0; i < 4; i++) assert.equal((await post({ username: 'carol' })).status, 401)
  const refused = await post({ username: 'carol', captcha: 'anything' })
  assert.deepEqual([refused.status, refused.body.error], [403, 'challenge_required'])
  const tooLong = await post({ username: 'x'.repeat(2000) })
  assert.deepEqual([tooLong.status, tooLong.body.error], [400, 'invalid_login_attempt'])
})

test('the factory refuses a missing guard or a cookie without a secret', () => {
  assert.throws(() => loginguard({}), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => loginguard({ guard: new Guard(), deviceCookie: {} }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => loginguard({ guard: new Guard(), verifyCaptcha: 'yes' }), { code: 'ERR_LOGINGUARD_TYPE' })
})

test('a site-wide attack asks everyone for the CAPTCHA, saying why', async (t) => {
  const app = await start({ policy: '[site]\nchallenge_when = "5/1m"', trustProxy: true })
  t.after(app.close)
  const events = []
  app.guard.on('event', (e) => events.push([e.kind, e.dimension, e.failures]))
  // A botnet: one failed login each, from networks of their own, on leaked usernames.
  for (let i = 0; i < 6; i++) {
    const r = await app.login({ username: `leaked${i}`, password: 'leaked' }, { 'x-forwarded-for': `192.0.${i}.1` })
    assert.equal(r.status, 401)
  }
  assert.deepEqual(events, [['site_attack_started', null, 6]])
  // bob never failed, yet is asked for the CAPTCHA, and told why; solved, he logs in.
  const bob = { 'x-forwarded-for': '198.51.100.20' }
  const asked = await app.login({ username: 'bob', password: 'battery staple' }, bob)
  assert.deepEqual([asked.status, asked.body], [
    403,
    {
      error: 'challenge_required',
      reason: 'site',
      message: 'We are seeing unusual login activity, please complete the CAPTCHA.',
    },
  ])
  const solved = await app.login({ username: 'bob', password: 'battery staple', captcha: 'solved' }, bob)
  assert.deepEqual([solved.status, solved.body], [200, { ok: true }])
  const site = app.guard.siteState()
  assert.deepEqual([site.active, site.trigger, site.perMs], [true, 5, 60000])
  assert.equal(app.guard.stats().site.active, true)
})

test('the middleware mounted twice on one route (app.use and the route) begins once', async (t) => {
  const guard = new Guard({ manualClock: true })
  const options = { guard }
  const app = express()
  app.use('/login', express.urlencoded({ extended: false }), loginguard(options))
  app.post('/login', loginguard(options), (req, res) => {
    if (USERS[req.loginguard.account] === req.body.password) {
      req.loginguard.success()
      return res.json({ ok: true })
    }
    req.loginguard.failure()
    res.status(401).json({ error: 'invalid_credentials' })
  })
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  const login = (fields) =>
    fetch(`http://127.0.0.1:${server.address().port}/login`, { method: 'POST', body: new URLSearchParams(fields) }).then((r) => r.status)
  const failures = (account) =>
    Object.fromEntries(guard.inspect({ account, ip: '127.0.0.1' }).dimensions.map((d) => [d.dimension, d.failures]))

  assert.equal(await login({ username: 'alice', password: 'guess' }), 401)
  assert.deepEqual(failures('alice'), { account: 1, account_ip: 1, ip: 1, ip_range: 1 })
  // A successful login takes back its one begin: nothing is left on the network.
  assert.equal(await login({ username: 'bob', password: 'battery staple' }), 200)
  assert.deepEqual(failures('bob'), { account: 0, account_ip: 0, ip: 1, ip_range: 1 }, "only alice's failure")
})
