// Express + passport + passport-local over real HTTP, with the strategy wrapped by loginguard/passport.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const express = require('express')
const { Passport } = require('passport')
const { Strategy: LocalStrategy } = require('passport-local')
const { Guard } = require('../loginguard.js')
const guardStrategy = require('../passport.js')

const USERS = { alice: 'correct horse', bob: 'battery staple' }

// `verified` counts the passwords the verify callback checked. `/login` uses Passport's
// own failure answer (the status, Retry-After); `/api/login` a custom callback that
// shows the failure's message.
async function start(t, { policy, strategyOptions = {}, verifyError, ...options } = {}) {
  const guard = new Guard({ policy, manualClock: true })
  const verified = { calls: 0 }
  const verify = (...args) => {
    const done = args.pop()
    const [username, password] = args[0] !== null && typeof args[0] === 'object' ? args.slice(1) : args
    verified.calls++
    if (verifyError) return done(verifyError)
    if (Object.hasOwn(USERS, username) && USERS[username] === password) return done(null, { name: username })
    return done(null, false, { message: 'Incorrect username or password.' })
  }
  const passport = new Passport()
  passport.use(
    guardStrategy(new LocalStrategy(strategyOptions, verify), {
      guard,
      verifyCaptcha: (req) => req.body.captcha === 'solved',
      passwordResetUrl: '/password-reset',
      ...options,
    }),
  )
  const app = express()
  app.use(express.urlencoded({ extended: false }), express.json(), passport.initialize())
  app.post('/login', passport.authenticate('local', { session: false }), (req, res) => res.json({ user: req.user.name }))
  app.post('/api/login', (req, res, next) =>
    passport.authenticate('local', { session: false }, (err, user, info, status) => {
      if (err) return next(err)
      if (!user) return res.status(status ?? 401).json(info)
      res.json({ user: user.name })
    })(req, res, next),
  )
  app.use((err, req, res, _next) => res.status(500).json({ error: 'application_error', message: err.message }))
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  const base = `http://127.0.0.1:${server.address().port}`
  const post = async (path, fields) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(fields),
    })
    const text = await res.text()
    const json = (res.headers.get('content-type') ?? '').startsWith('application/json')
    return { status: res.status, body: json ? JSON.parse(text) : text, retryAfter: res.headers.get('retry-after') }
  }
  const login = (fields) => post('/login', fields)
  const api = (fields) => post('/api/login', fields)
  return { guard, verified, login, api }
}

function failures(guard, account = 'alice') {
  return Object.fromEntries(guard.inspect({ account, ip: '127.0.0.1' }).dimensions.map((d) => [d.dimension, d.failures]))
}

test('wrong passwords past every threshold: the right one does not log in until the counters allow it', async (t) => {
  const app = await start(t, { policy: '[account]\nreset_after = 20' })
  for (let i = 0; i < 4; i++) assert.equal((await app.login({ username: 'alice', password: 'guess' })).status, 401)
  // The 4th failure asks for the CAPTCHA: the right password is not even checked.
  const challenged = await app.api({ username: 'alice', password: 'correct horse' })
  assert.deepEqual([challenged.status, challenged.body], [
    403,
    { error: 'challenge_required', reason: 'account', message: 'Complete the CAPTCHA to log in.', retryAfterMs: null },
  ])
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' })).status, 403)
  assert.equal(app.verified.calls, 4)
  // With a solved CAPTCHA: more guesses, up to the account_ip lock.
  for (let i = 0; i < 7; i++) await app.login({ username: 'alice', password: 'guess', captcha: 'solved' })
  const locked = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([locked.status, locked.retryAfter, locked.body], [429, '60', 'Too Many Requests'])
  const shown = await app.api({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([shown.status, shown.retryAfter, shown.body], [
    429,
    '60',
    {
      error: 'too_many_attempts',
      reason: 'account_ip',
      retryAfterSeconds: 60,
      retryAfterMs: 60_000,
      message: 'Too many failed logins for this account from your network. Try again in 60 s.',
    },
  ])
  assert.equal(app.verified.calls, 11)
  // Each lock over, one more guess, until 20 consecutive failures: reset_required for good.
  while (app.verified.calls < 21) {
    const r = await app.login({ username: 'alice', password: 'guess', captcha: 'solved' })
    if (r.status === 429) app.guard.advanceMs(Number(r.retryAfter) * 1000)
  }
  app.guard.advanceMs(7 * 24 * 3600 * 1000)
  const reset = await app.api({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([reset.status, reset.body.error, reset.body.resetUrl], [403, 'password_reset_required', '/password-reset'])
  assert.equal(app.verified.calls, 21, 'the right password was never checked while refused')
  // A password reset unlocks her.
  app.guard.resetAccount('alice')
  assert.deepEqual(await app.api({ username: 'alice', password: 'correct horse', captcha: 'solved' }), {
    status: 200,
    body: { user: 'alice' },
    retryAfter: null,
  })
})

test('a success clears the account and account_ip counters; the network keeps its count', async (t) => {
  const app = await start(t)
  for (let i = 0; i < 3; i++) await app.login({ username: 'alice', password: 'guess' })
  await app.login({ username: 'bob', password: 'guess' })
  assert.deepEqual(failures(app.guard), { account: 3, account_ip: 3, ip: 4, ip_range: 4 })
  assert.deepEqual((await app.login({ username: 'alice', password: 'correct horse' })).body, { user: 'alice' })
  // begin's advance is taken back where a success clears nothing (the ip counter).
  assert.deepEqual(failures(app.guard), { account: 0, account_ip: 0, ip: 4, ip_range: 4 })
  assert.equal(app.guard.check({ account: 'alice', ip: '127.0.0.1' }).action, 'allow')
})

test('a username that is not a usable string is a 400 that counts nothing and checks no password', async (t) => {
  const app = await start(t)
  // passport-local reads no username from an array or an object ("Missing credentials")...
  for (const username of [['alice'], { a: 1 }, undefined]) {
    const r = await app.api({ username, password: 'correct horse' })
    assert.deepEqual([r.status, r.body], [400, { message: 'Missing credentials' }], String(username))
  }
  // ...and hands numbers and booleans to verify as they are: refused before the guard keys them.
  for (const username of [7, true, 'x'.repeat(2000), ' \u3000 ']) {
    const r = await app.api({ username, password: 'correct horse' })
    assert.deepEqual([r.status, r.body.error], [400, 'invalid_login_attempt'], String(username).slice(0, 20))
  }
  assert.equal(app.verified.calls, 0)
  assert.equal(app.guard.stats().occupancy, 0)
})

test('the account option reshapes the username; passReqToCallback strategies are guarded too', async (t) => {
  const app = await start(t, {
    strategyOptions: { passReqToCallback: true },
    account: (req, username) => username.trim().toLowerCase(),
  })
  for (let i = 0; i < 4; i++) await app.login({ username: ` ALICE${i % 2 ? '' : ' '}`, password: 'guess' })
  assert.equal(failures(app.guard).account, 4)
  assert.equal((await app.api({ username: 'alice', password: 'correct horse' })).body.error, 'challenge_required')
})

test('a verify callback that errors answers 500; begin\'s failure stays recorded', async (t) => {
  const app = await start(t, { verifyError: new Error('database down') })
  const r = await app.login({ username: 'alice', password: 'correct horse' })
  assert.deepEqual([r.status, r.body.message], [500, 'database down'])
  assert.equal(failures(app.guard).account, 1)
})

test('the deny list fails with 403 and no Retry-After', async (t) => {
  const app = await start(t, { policy: 'deny_cidrs = ["127.0.0.0/8"]' })
  const r = await app.api({ username: 'alice', password: 'correct horse' })
  assert.deepEqual([r.status, r.retryAfter, r.body.error], [403, null, 'forbidden'])
  assert.equal(app.verified.calls, 0)
})

test('guardStrategy refuses what it cannot guard', () => {
  const local = new LocalStrategy(() => {})
  assert.throws(() => guardStrategy({ authenticate() {} }, { guard: new Guard() }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => guardStrategy(local, {}), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => guardStrategy(local, { guard: new Guard(), accountField: 'email' }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => guardStrategy(local, { guard: new Guard(), deviceCookie: { secret: 's' } }), { code: 'ERR_LOGINGUARD_TYPE' })
  const wrapped = guardStrategy(local, { guard: new Guard() })
  assert.equal(wrapped.name, 'local')
  assert.ok(wrapped instanceof LocalStrategy)
})
