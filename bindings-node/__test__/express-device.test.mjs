// Device cookies over real HTTP: the issue time is signed in and a maximum age is
// enforced by the server; a changed account secret (a new password) revokes them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const express = require('express')
const { Guard } = require('../loginguard.js')
const loginguard = require('../express.js')

const SECRET = 'test-device-secret'
const DAY = 24 * 3600 * 1000

// Alice's password is `passwords.alice`; `clock.now` is the middleware's time for cookie ages.
async function start(t, deviceCookie = {}) {
  const guard = new Guard({ policy: '[account]\nreset_after = 5', manualClock: true })
  const clock = { now: 1_800_000_000_000 }
  const passwords = { alice: 'correct horse' }
  const app = express()
  app.post(
    '/login',
    express.json(),
    loginguard({
      guard,
      verifyCaptcha: (req) => req.body.captcha === 'solved',
      deviceCookie: { secret: SECRET, now: () => clock.now, ...deviceCookie },
    }),
    (req, res) => {
      if (passwords[req.body.username] === req.body.password) {
        req.loginguard.success()
        res.json({ ok: true })
      } else {
        req.loginguard.failure()
        res.status(401).json({ error: 'invalid_credentials' })
      }
    },
  )
  app.use((err, req, res, _next) => res.status(500).json({ error: 'application_error', message: err.message }))
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  const url = `http://127.0.0.1:${server.address().port}/login`
  const login = async (body, cookie) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: JSON.stringify(body),
    })
    const setCookie = res.headers.get('set-cookie')
    return { status: res.status, body: await res.json(), setCookie, cookie: setCookie?.split(';')[0] }
  }
  // An attacker drives alice to reset_required: only a trusted device logs her in now.
  const attack = async () => {
    for (let i = 0; i < 6; i++) await login({ username: 'alice', password: 'guess', captcha: 'solved' })
    const untrusted = await login({ username: 'alice', password: passwords.alice, captcha: 'solved' })
    assert.equal(untrusted.body.error, 'password_reset_required')
  }
  return { guard, clock, passwords, login, attack }
}

test('a device cookie carries its signed issue time and expires after maxAgeMs (90 days by default)', async (t) => {
  const app = await start(t)
  const issued = app.clock.now
  const first = await app.login({ username: 'alice', password: 'correct horse' })
  assert.match(first.setCookie, /^loginguard_device=[\w-]+\.\d+\.[\w-]+; Max-Age=7776000; Path=\/; HttpOnly; SameSite=Lax$/)
  assert.equal(first.cookie.split('.')[1], String(issued))
  await app.attack()

  app.clock.now = issued + 90 * DAY - 1
  const lastDay = await app.login({ username: 'alice', password: 'correct horse' }, first.cookie)
  assert.deepEqual([lastDay.status, lastDay.body], [200, { ok: true }], 'honoured until its maximum age')
  const renewed = lastDay.cookie
  assert.equal(renewed.split('.')[0], first.cookie.split('.')[0], 'the same device keeps its id')
  assert.equal(renewed.split('.')[1], String(app.clock.now), 'a login on the device renews its issue time')

  app.clock.now = issued + 90 * DAY
  const expired = await app.login({ username: 'alice', password: 'correct horse' }, first.cookie)
  assert.deepEqual([expired.status, expired.body.error], [403, 'password_reset_required'], 'a copied cookie is not honoured forever')
  const fresh = await app.login({ username: 'alice', password: 'correct horse' }, renewed)
  assert.equal(fresh.status, 200)
})

test('deviceCookie.maxAgeMs sets both the server-side limit and the cookie Max-Age', async (t) => {
  const app = await start(t, { maxAgeMs: 3_600_000 })
  const issued = app.clock.now
  const first = await app.login({ username: 'alice', password: 'correct horse' })
  assert.match(first.setCookie, /; Max-Age=3600;/)
  await app.attack()
  app.clock.now = issued + 3_599_999
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' }, first.cookie)).status, 200)
  app.clock.now = issued + 3_600_000
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' }, first.cookie)).status, 403)
})

test('an old-format cookie, a forged issue time, or one from the future is no device', async (t) => {
  const app = await start(t)
  const first = await app.login({ username: 'alice', password: 'correct horse' })
  const [name, value] = first.cookie.split('=')
  const [id, issued, mac] = value.split('.')
  await app.attack()
  const oldMac = createHmac('sha256', SECRET).update(`loginguard-device\0alice\0${id}`).digest('base64url')
  const cookies = [
    `${name}=${id}.${oldMac}`, // the format without an issue time: never honoured again
    `${name}=${id}.${Number(issued) + DAY}.${mac}`, // a later issue time under the old signature
    `${name}=${id}.${issued}.${mac}.extra`,
    `${name}=${id}..${mac}`,
  ]
  for (const cookie of cookies) {
    const r = await app.login({ username: 'alice', password: 'correct horse' }, cookie)
    assert.deepEqual([r.status, r.body.error], [403, 'password_reset_required'], cookie)
  }
  // Issued "tomorrow" by this server's own key (a clock that went back): not honoured.
  app.clock.now = Number(issued) + DAY
  const tomorrow = await app.login({ username: 'alice', password: 'correct horse' }, first.cookie)
  assert.equal(tomorrow.status, 200)
  app.clock.now = Number(issued)
  const fromTheFuture = await app.login({ username: 'alice', password: 'correct horse' }, tomorrow.cookie)
  assert.equal(fromTheFuture.status, 403)
})

test('accountSecret: a changed password revokes the device cookies issued before it', async (t) => {
  const hashes = { alice: 'hash-of-correct-horse' }
  const app = await start(t, { accountSecret: (account) => hashes[account] })
  const before = await app.login({ username: 'alice', password: 'correct horse' })
  assert.equal(before.status, 200)
  // Alice resets her password (the reset flow also calls guard.resetAccount).
  app.passwords.alice = 'new horse'
  hashes.alice = 'hash-of-new-horse'
  app.guard.resetAccount('alice')
  const after = await app.login({ username: 'alice', password: 'new horse' })
  assert.equal(after.status, 200)
  await app.attack()
  const stale = await app.login({ username: 'alice', password: 'new horse' }, before.cookie)
  assert.deepEqual([stale.status, stale.body.error], [403, 'password_reset_required'], 'the cookie from before the change is no device')
  const current = await app.login({ username: 'alice', password: 'new horse' }, after.cookie)
  assert.deepEqual([current.status, current.body], [200, { ok: true }])
})

test('accountSecret: async is awaited; no secret means no device; a throw goes to next(err)', async (t) => {
  const hashes = { alice: 'h1' }
  const app = await start(t, { accountSecret: async (account) => hashes[account] })
  const first = await app.login({ username: 'alice', password: 'correct horse' })
  assert.ok(first.cookie)
  await app.attack()
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' }, first.cookie)).status, 200)
  delete hashes.alice
  const unknown = await app.login({ username: 'alice', password: 'correct horse' }, first.cookie)
  assert.equal(unknown.status, 403, 'an account without a secret has no trusted device')

  const fresh = await start(t, { accountSecret: () => undefined })
  const noCookie = await fresh.login({ username: 'alice', password: 'correct horse' })
  assert.deepEqual([noCookie.status, noCookie.setCookie], [200, null])

  const throwing = await start(t, {
    accountSecret: () => {
      throw new Error('user store down')
    },
  })
  const r = await throwing.login({ username: 'alice', password: 'correct horse' })
  assert.deepEqual([r.status, r.body.message], [500, 'user store down'])
  // The password was never checked, and the failure begin recorded in advance stands.
  assert.equal(throwing.guard.inspect({ account: 'alice' }).dimensions[0].failures, 1)
})

test('the factory refuses bad device cookie options', () => {
  const guard = new Guard()
  for (const deviceCookie of [
    { secret: SECRET, maxAgeMs: 0 },
    { secret: SECRET, maxAgeMs: -1 },
    { secret: SECRET, maxAgeMs: Infinity },
    { secret: SECRET, maxAgeMs: '90d' },
    { secret: SECRET, accountSecret: 'hash' },
    { secret: SECRET, now: 5 },
  ]) {
    assert.throws(() => loginguard({ guard, deviceCookie }), { code: 'ERR_LOGINGUARD_TYPE' }, JSON.stringify(deviceCookie))
  }
})
