// A real Fastify app on 127.0.0.1 and real HTTP requests (plus `inject` where no socket is needed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { parse as parseForm } from 'node:querystring'

const require = createRequire(import.meta.url)
const Fastify = require('fastify')
const express = require('express')
const { Guard } = require('../loginguard.js')
const loginguard = require('../fastify.js')
const expressLoginguard = require('../express.js')

const USERS = { alice: 'correct horse', bob: 'battery staple' }
const SECRET = 'test-device-secret'

// The usual login handler: it checks the password of the account the counters keyed.
async function handler(request, reply) {
  const { account } = request.loginguard
  if (Object.hasOwn(USERS, account) && USERS[account] === request.body.password) {
    request.loginguard.success()
    return { ok: true }
  }
  request.loginguard.failure()
  return reply.code(401).send({ error: 'invalid_credentials' })
}

// `route: 'hook'` attaches `fastify.loginguard` as the route's preHandler; `'config'` sets
// `config: { loginguard: true }` instead.
async function build({ policy, trustProxy, route = 'hook', deviceCookie = { secret: SECRET }, ...options } = {}) {
  const guard = new Guard({ policy, manualClock: true })
  const app = Fastify({ trustProxy })
  // Form bodies as `qs`-less parsers give them: a repeated field is an array.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (req, body, done) => done(null, parseForm(body)))
  const seen = { route: 0 }
  await app.register(loginguard, {
    guard,
    verifyCaptcha: async (request) => request.body.captcha === 'solved',
    deviceCookie,
    passwordResetUrl: '/password-reset',
    ...options,
  })
  const counted = async (request, reply) => {
    seen.route++
    return handler(request, reply)
  }
  if (route === 'hook') app.post('/login', { preHandler: app.loginguard }, counted)
  else app.post('/login', { config: { loginguard: true } }, counted)
  app.post('/unguarded', async (request) => ({ loginguard: request.loginguard }))
  return { app, guard, seen }
}

async function start(options) {
  const built = await build(options)
  await built.app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${built.app.server.address().port}`
  const login = async (fields, headers = {}) => {
    const form = !('json' in headers)
    const { json: _, ...rest } = headers
    const res = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json', ...rest },
      body: form ? new URLSearchParams(fields) : JSON.stringify(fields),
    })
    const text = await res.text()
    const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json')
    return { status: res.status, body: isJson ? JSON.parse(text) : text, headers: res.headers }
  }
  return { ...built, base, login, close: () => built.app.close() }
}

test('the seed story over a real socket: 4 failures, then a CAPTCHA, then the account_ip lock with Retry-After', async (t) => {
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
  assert.equal((await app.login({ username: 'alice', password: 'correct horse', captcha: 'nope' })).body.error, 'challenge_required')
  assert.equal(app.seen.route, 4)
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
  assert.equal((await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })).headers.get('retry-after'), '1')
  app.guard.advanceMs(999)
  const ok = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([ok.status, ok.body], [200, { ok: true }])
  assert.match(ok.headers.get('set-cookie'), /^loginguard_device=[\w-]+\.\d+\.[\w-]{43}; Max-Age=7776000; Path=\/; HttpOnly; SameSite=Lax$/)
  // The success cleared alice's account and account_ip counters; the network keeps its count.
  const dims = Object.fromEntries(app.guard.inspect({ account: 'alice', ip: '127.0.0.1' }).dimensions.map((d) => [d.dimension, d.failures]))
  assert.deepEqual(dims, { account: 0, account_ip: 0, ip: 11, ip_range: 11 })
})

test('a network spray is denied by ip with Retry-After, and a solved CAPTCHA does not lift it', async (t) => {
  const app = await start()
  t.after(app.close)
  // One address fails once on each of 51 accounts: past 20 it needs the CAPTCHA, past 50 it is locked.
  for (let i = 0; i < 21; i++) assert.equal((await app.login({ username: `user${i}`, password: 'x' })).status, 401)
  const challenged = await app.login({ username: 'user21', password: 'x' })
  assert.deepEqual([challenged.status, challenged.body.reason], [403, 'ip'])
  for (let i = 21; i < 51; i++) assert.equal((await app.login({ username: `user${i}`, password: 'x', captcha: 'solved' })).status, 401)
  const r = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([r.status, r.headers.get('retry-after')], [429, '900'])
  assert.deepEqual(r.body, {
    error: 'too_many_attempts',
    reason: 'ip',
    retryAfterSeconds: 900,
    message: 'Too many failed logins from your network. Try again in 900 s.',
  })
  // The same account from another network is not denied.
  assert.equal(app.guard.check({ account: 'alice', ip: '198.51.100.9' }).action, 'allow')
})

test('reset_required sends the user to the password reset, until resetAccount', async (t) => {
  const app = await start({ policy: '[account]\nreset_after = 5' })
  t.after(app.close)
  for (let i = 0; i < 6; i++) await app.login({ username: 'alice', password: 'guess', captcha: 'solved' })
  const r = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.deepEqual([r.status, r.headers.get('retry-after'), r.body], [
    403,
    null,
    {
      error: 'password_reset_required',
      reason: 'account',
      message: 'Too many failed logins: reset your password to log in again.',
      resetUrl: '/password-reset',
    },
  ])
  app.guard.resetAccount('alice')
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' })).status, 200)
})

test('a trusted device keeps its owner in during an attack; on another account, or forged, it is ignored', async (t) => {
  const app = await start({ policy: '[account]\nreset_after = 5' })
  t.after(app.close)
  const first = await app.login({ username: 'alice', password: 'correct horse' })
  const cookie = first.headers.get('set-cookie').split(';')[0]
  for (let i = 0; i < 6; i++) await app.login({ username: 'alice', password: 'guess', captcha: 'solved' })
  const browser = await app.login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.equal(browser.body.error, 'password_reset_required')
  const trusted = await app.login({ username: 'alice', password: 'correct horse' }, { cookie })
  assert.deepEqual([trusted.status, trusted.body], [200, { ok: true }])
  const deviceId = (c) => c.split('=')[1].split('.')[0]
  assert.equal(deviceId(trusted.headers.get('set-cookie')), deviceId(cookie), 'the same device keeps its id')
  // On bob the cookie is ignored: bob's own counters decide.
  for (let i = 0; i < 4; i++) await app.login({ username: 'bob', password: 'guess' }, { cookie })
  assert.equal((await app.login({ username: 'bob', password: 'battery staple' }, { cookie })).body.error, 'challenge_required')
  const [name, value] = cookie.split('=')
  const tampered = `${name}=${value.slice(0, -2)}${value.endsWith('AA') ? 'BB' : 'AA'}`
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' }, { cookie: tampered })).body.error, 'password_reset_required')
})

test('device cookies are the same format as Express: one issued by loginguard/express is honoured here', async (t) => {
  const guard = new Guard({ manualClock: true })
  const ex = express()
  ex.post('/login', express.json(), expressLoginguard({ guard, deviceCookie: { secret: SECRET } }), (req, res) => {
    req.loginguard.success()
    res.json({ ok: true })
  })
  const server = await new Promise((resolve) => {
    const s = ex.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  const issued = await fetch(`http://127.0.0.1:${server.address().port}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice' }),
  })
  const cookie = issued.headers.get('set-cookie').split(';')[0]
  const app = await start({ policy: '[account]\nreset_after = 0' })
  t.after(app.close)
  assert.equal((await app.login({ username: 'alice', password: 'guess' })).status, 401)
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' })).body.error, 'password_reset_required')
  assert.equal((await app.login({ username: 'alice', password: 'correct horse' }, { cookie })).status, 200)
})

test('device cookies expire at maxAgeMs on the injected clock and are revoked when accountSecret changes', async () => {
  const clock = { now: 1_800_000_000_000 }
  const credentials = { alice: 'hash-1' }
  const { app } = await build({
    policy: '[account]\nreset_after = 1',
    deviceCookie: { secret: SECRET, maxAgeMs: 1000, now: () => clock.now, accountSecret: (account) => credentials[account] },
  })
  const post = async (payload, cookie) =>
    app.inject({ method: 'POST', url: '/login', payload, headers: cookie ? { cookie } : {} })
  const first = await post({ username: 'alice', password: 'correct horse' })
  const cookie = first.headers['set-cookie'].split(';')[0]
  assert.match(first.headers['set-cookie'], /; Max-Age=1; /)
  for (let i = 0; i < 2; i++) assert.equal((await post({ username: 'alice', password: 'guess' })).statusCode, 401)
  assert.equal((await post({ username: 'alice', password: 'correct horse' })).json().error, 'password_reset_required')
  clock.now += 999
  assert.equal((await post({ username: 'alice', password: 'correct horse' }, cookie)).statusCode, 200)
  clock.now += 1
  assert.equal((await post({ username: 'alice', password: 'correct horse' }, cookie)).json().error, 'password_reset_required', 'expired')
  const fresh = (await post({ username: 'alice', password: 'correct horse' }, cookie)).headers['set-cookie']
  assert.equal(fresh, undefined, 'a refused attempt issues nothing')
  clock.now -= 500
  assert.equal((await post({ username: 'alice', password: 'correct horse' }, cookie)).statusCode, 200)
  credentials.alice = 'hash-2' // a new password
  assert.equal((await post({ username: 'alice', password: 'correct horse' }, cookie)).json().error, 'password_reset_required', 'revoked')
})

test('a missing or non-string account is a 400 that counts nothing and never reaches the handler', async (t) => {
  const app = await start()
  t.after(app.close)
  const INVALID = { error: 'invalid_login_attempt', message: 'Invalid login attempt: no account name given as text.' }
  const cases = [
    [{ password: 'x' }, { json: true }],
    [{ username: ['alice'], password: 'correct horse' }, { json: true }],
    [{ username: { toString: 'alice' }, password: 'x' }, { json: true }],
    [{ username: 7, password: 'x' }, { json: true }],
    [{ username: null, password: 'x' }, { json: true }],
  ]
  for (const [body, headers] of cases) {
    const r = await app.login(body, headers)
    assert.deepEqual([r.status, r.body], [400, INVALID], JSON.stringify(body))
  }
  // A repeated form field parses to an array: refused, not coerced to 'alice'.
  const repeated = await fetch(`${app.base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=alice&username=alice&password=correct+horse',
  })
  assert.deepEqual([repeated.status, await repeated.json()], [400, INVALID])
  const tooLong = await app.login({ username: 'x'.repeat(2000), password: 'x' })
  assert.deepEqual([tooLong.status, tooLong.body.message], [400, 'Invalid login attempt: the account name is empty or too long.'])
  assert.equal((await app.login({ username: ' \u3000 ', password: 'x' })).status, 400, 'empty once normalized')
  // A browser that does not take JSON reads short text.
  const html = await app.login({ password: 'x' }, { accept: 'text/html' })
  assert.deepEqual([html.status, html.headers.get('content-type'), html.body], [400, 'text/plain; charset=utf-8', INVALID.message])
  assert.equal(app.seen.route, 0)
  const { allow, challenge, deny, resetRequired, occupancy } = app.guard.stats()
  assert.deepEqual({ allow, challenge, deny, resetRequired, occupancy }, { allow: 0, challenge: 0, deny: 0, resetRequired: 0, occupancy: 0 })
})

test('the account option keys what the application names; its errors go to the error handler, counting nothing', async () => {
  const { app, guard } = await build({
    account: async (request) => {
      if (request.body.username === 'boom') throw new Error('directory down')
      return typeof request.body.username === 'string' ? request.body.username.trim().toLowerCase() : undefined
    },
  })
  const post = (payload) => app.inject({ method: 'POST', url: '/login', payload })
  assert.equal((await post({ username: '  ALICE ', password: 'correct horse' })).statusCode, 200)
  for (let i = 0; i < 2; i++) await post({ username: 'Alice', password: 'x' })
  assert.equal(guard.inspect({ account: 'alice' }).dimensions[0].failures, 2)
  const failed = await post({ username: 'boom', password: 'x' })
  assert.deepEqual([failed.statusCode, failed.json().message], [500, 'directory down'])
  assert.equal(guard.inspect({ account: 'boom' }).dimensions[0].tracked, false)
  assert.equal((await post({ username: ['alice'] })).statusCode, 400)
})

test('config: { loginguard: true } guards a route like the preHandler; other routes are untouched', async () => {
  const { app, guard, seen } = await build({ route: 'config' })
  const post = (url, payload) => app.inject({ method: 'POST', url, payload })
  for (let i = 0; i < 4; i++) assert.equal((await post('/login', { username: 'carol', password: 'x' })).statusCode, 401)
  assert.equal((await post('/login', { username: 'carol', password: 'x' })).json().error, 'challenge_required')
  assert.equal(seen.route, 4)
  assert.deepEqual((await post('/unguarded', { username: 'carol' })).json(), { loginguard: null })
  assert.equal(guard.inspect({ account: 'carol' }).dimensions[0].failures, 4)
})

test('config: { loginguard: true } holds on a route declared before the plugin has loaded; guarded twice, one begin', async () => {
  const guard = new Guard({ manualClock: true })
  const app = Fastify()
  app.register(loginguard, { guard }) // not awaited: Fastify loads it before the routes
  app.post('/login', { config: { loginguard: true } }, handler)
  app.after(() => app.post('/twice', { config: { loginguard: true }, preHandler: app.loginguard }, handler))
  const post = (url) => app.inject({ method: 'POST', url, payload: { username: 'carol', password: 'x' } })
  assert.equal((await post('/login')).statusCode, 401)
  assert.equal((await post('/twice')).statusCode, 401)
  assert.equal(guard.inspect({ account: 'carol' }).dimensions[0].failures, 2)
})

test('the client IP is what trustProxy gives: a spoofed X-Forwarded-For is ignored by default', async () => {
  for (const [trustProxy, counted, ignored] of [
    [undefined, '127.0.0.1', '203.0.113.50'],
    ['127.0.0.1', '203.0.113.50', '127.0.0.1'],
  ]) {
    const { app, guard } = await build({ trustProxy })
    const res = await app.inject({
      method: 'POST',
      url: '/login',
      remoteAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '203.0.113.50' },
      payload: { username: 'bob', password: 'x' },
    })
    assert.equal(res.statusCode, 401)
    assert.equal(guard.inspect({ ip: counted }).dimensions[0].failures, 1, String(trustProxy))
    assert.equal(guard.inspect({ ip: ignored }).dimensions[0].failures, 0, String(trustProxy))
  }
})

test('the deny list answers 403 without Retry-After and records nothing', async () => {
  const { app, guard } = await build({ policy: 'deny_cidrs = ["127.0.0.0/8"]' })
  const r = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', password: 'correct horse' } })
  assert.deepEqual(
    [r.statusCode, r.json(), r.headers['retry-after']],
    [403, { error: 'forbidden', reason: 'denylist', message: 'Logins from your network are not allowed.' }, undefined],
  )
  assert.equal(guard.stats().occupancy, 0)
})

test('a CAPTCHA verifier that never answers fails closed at captchaTimeoutMs; one that throws fails closed', async (t) => {
  let signal
  const { app, guard, seen } = await build({
    captchaTimeoutMs: 5000,
    verifyCaptcha: (request, context) => {
      if (request.body.captcha === 'throw') throw new Error('captcha service down')
      signal = context.signal
      return new Promise(() => {})
    },
  })
  const post = (payload) => app.inject({ method: 'POST', url: '/login', payload })
  for (let i = 0; i < 4; i++) await post({ username: 'carol', password: 'x' })
  assert.equal((await post({ username: 'carol', captcha: 'throw' })).json().error, 'challenge_required')
  t.mock.timers.enable({ apis: ['setTimeout'] })
  const pending = post({ username: 'carol', captcha: 'anything' })
  while (signal === undefined) await new Promise((resolve) => setImmediate(resolve))
  assert.equal(signal.aborted, false)
  t.mock.timers.tick(5000)
  const r = await pending
  assert.deepEqual([r.statusCode, r.json().error], [403, 'challenge_required'])
  assert.equal(signal.aborted, true)
  assert.equal(seen.route, 4, 'the password was not checked')
  assert.equal(guard.inspect({ account: 'carol' }).dimensions[0].failures, 4)
})

test('the plugin refuses bad options when registered', async () => {
  const bad = [
    {},
    { guard: new Guard(), deviceCookie: {} },
    { guard: new Guard(), verifyCaptcha: 'yes' },
    { guard: new Guard(), captchaTimeoutMs: 0 },
    { guard: new Guard(), accountField: '' },
    { guard: new Guard(), account: 'username' },
  ]
  for (const options of bad) {
    const app = Fastify()
    await assert.rejects(async () => app.register(loginguard, options).ready(), { code: 'ERR_LOGINGUARD_TYPE' }, JSON.stringify(options))
  }
})
