// The account of a login attempt, over real HTTP: a login field that is missing or
// not a string is a 400 that counts nothing, never an attempt keyed by the network alone.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const express = require('express')
const { Guard } = require('../loginguard.js')
const loginguard = require('../express.js')

const USERS = { alice: 'correct horse' }

// `parser` parses the body; `options` go to the middleware. The route is the usual one,
// `USERS[req.body.username]`, which coerces `['alice']` to `'alice'`.
async function start(t, { parser = express.json(), policy, trustProxy, ...options } = {}) {
  const guard = new Guard({ policy, manualClock: true })
  const app = express()
  if (trustProxy !== undefined) app.set('trust proxy', trustProxy)
  const seen = { route: 0 }
  app.post('/login', parser, loginguard({ guard, ...options }), (req, res) => {
    seen.route++
    const { username, password } = req.body
    if (Object.hasOwn(USERS, username) && USERS[username] === password) {
      req.loginguard.success()
      res.json({ ok: true })
    } else {
      req.loginguard.failure()
      res.status(401).json({ error: 'invalid_credentials' })
    }
  })
  app.use((err, req, res, _next) => res.status(500).json({ error: 'application_error', message: err.message }))
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  const url = `http://127.0.0.1:${server.address().port}/login`
  const post = async (body, headers = {}) => {
    const form = typeof body === 'string'
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json', ...headers },
      body: form ? body : JSON.stringify(body),
    })
    const text = await res.text()
    const json = (res.headers.get('content-type') ?? '').startsWith('application/json')
    return { status: res.status, body: json ? JSON.parse(text) : text, type: res.headers.get('content-type') }
  }
  return { guard, post, seen }
}

// Nothing counted: no begin (stats count begin's decisions), no key stored, no failure on the network.
function assertNothingCounted(guard) {
  const { allow, challenge, deny, resetRequired, occupancy } = guard.stats()
  assert.deepEqual({ allow, challenge, deny, resetRequired, occupancy }, { allow: 0, challenge: 0, deny: 0, resetRequired: 0, occupancy: 0 })
  assert.equal(guard.inspect({ account: 'alice', ip: '127.0.0.1' }).dimensions.every((d) => d.failures === 0), true)
}

const INVALID = { error: 'invalid_login_attempt', message: 'Invalid login attempt: no account name given as text.' }

test('a JSON account that is not a non-empty string is a 400 that counts nothing', async (t) => {
  const app = await start(t)
  const bodies = [
    { username: ['alice'], password: 'correct horse' },
    { username: { toString: 'alice' }, password: 'correct horse' },
    { username: 42, password: 'x' },
    { username: null, password: 'x' },
    { username: true, password: 'x' },
    { username: '', password: 'x' },
    { username: ' \t\u3000', password: 'x' }, // empty once normalized: the core would key the network alone
    { password: 'correct horse' },
  ]
  for (const body of bodies) {
    const r = await app.post(body)
    assert.deepEqual([r.status, r.body.error], [400, 'invalid_login_attempt'], JSON.stringify(body))
    if (typeof body.username === 'string') assert.equal(r.body.message, 'Invalid login attempt: the account name is empty or too long.')
    else assert.deepEqual(r.body, INVALID)
  }
  const notAnObject = await app.post(['alice'])
  assert.deepEqual([notAnObject.status, notAnObject.body], [400, INVALID])
  assert.equal(app.seen.route, 0, 'the password was never checked')
  assertNothingCounted(app.guard)
})

test('guessing with an array account from many networks never reaches the password check', async (t) => {
  const app = await start(t, { trustProxy: 'loopback' })
  for (let i = 0; i < 20; i++) {
    const r = await app.post({ username: ['alice'], password: `guess${i}` }, { 'x-forwarded-for': `198.51.100.${i + 1}` })
    assert.equal(r.status, 400)
  }
  const right = await app.post({ username: ['alice'], password: 'correct horse' }, { 'x-forwarded-for': '198.51.100.99' })
  assert.equal(right.status, 400, 'the right password in an array does not log in')
  assert.equal(app.seen.route, 0)
  assertNothingCounted(app.guard)
})

test('urlencoded bodies: username[]=, username[a]= and a repeated field are 400s', async (t) => {
  for (const extended of [true, false]) {
    const app = await start(t, { parser: express.urlencoded({ extended }) })
    const forms = ['username=alice&username=alice&password=x', 'password=correct+horse', 'username=&password=x']
    if (extended) forms.push('username[]=alice&password=correct+horse', 'username[a]=alice&password=correct+horse')
    for (const form of forms) {
      const r = await app.post(form)
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_login_attempt'], `${form} (extended: ${extended})`)
    }
    assert.equal(app.seen.route, 0)
    assertNothingCounted(app.guard)
  }
})

test('the 400 is JSON for clients that take JSON, short text otherwise', async (t) => {
  const app = await start(t)
  const json = await app.post({ username: ['alice'] }, { accept: 'application/json' })
  assert.deepEqual([json.status, json.body], [400, INVALID])
  const text = await app.post({ username: ['alice'] }, { accept: 'text/html' })
  assert.equal(text.status, 400)
  assert.match(text.type, /^text\/plain/)
  assert.equal(text.body, INVALID.message)
})

test('an account the core refuses (over 1024 bytes) is a 400, never the network alone', async (t) => {
  const app = await start(t)
  const r = await app.post({ username: 'a'.repeat(1025), password: 'x' })
  assert.deepEqual([r.status, r.body.error], [400, 'invalid_login_attempt'])
  assert.equal(app.seen.route, 0)
  assertNothingCounted(app.guard)
})

test('the account option keys the attempt on the account the application names', async (t) => {
  const ALIASES = { 'alice@example.com': 'alice' }
  const canonical = (req) => {
    const typed = req.body.login
    if (typeof typed !== 'string') return undefined
    return ALIASES[typed.toLowerCase()] ?? typed.toLowerCase()
  }
  const app = await start(t, { account: canonical, accountField: 'ignored-when-account-is-given' })
  const seenAccounts = []
  app.guard.on('event', (e) => seenAccounts.push(e.account))
  for (const login of ['alice', 'ALICE@example.com', 'Alice', 'alice@EXAMPLE.com']) {
    assert.equal((await app.post({ login, password: 'x' })).status, 401)
  }
  // Four failures on one account, whichever name was typed: the fifth needs a CAPTCHA.
  const fifth = await app.post({ login: 'alice@example.com', password: 'correct horse' })
  assert.deepEqual([fifth.status, fifth.body.error, fifth.body.reason], [403, 'challenge_required', 'account'])
  assert.deepEqual(seenAccounts, ['alice'])
  // What the function cannot name is a 400 that counts nothing more.
  const before = app.guard.stats()
  for (const login of [['alice'], undefined, 7]) {
    const r = await app.post({ login, password: 'correct horse' })
    assert.deepEqual([r.status, r.body], [400, INVALID])
  }
  assert.deepEqual(app.guard.stats(), before)
})

test('the account option: a Promise is awaited, a non-string is a 400, a throw goes to next(err)', async (t) => {
  const asyncApp = await start(t, { account: async (req) => req.body.username })
  assert.equal((await asyncApp.post({ username: 'alice', password: 'x' })).status, 401)
  assert.equal(asyncApp.guard.inspect({ account: 'alice' }).dimensions[0].failures, 1)
  const refused = await asyncApp.post({ username: ['alice'], password: 'correct horse' })
  assert.deepEqual([refused.status, refused.body], [400, INVALID])

  const numeric = await start(t, { account: () => 42 })
  assert.deepEqual((await numeric.post({ username: 'alice', password: 'x' })).status, 400)
  assertNothingCounted(numeric.guard)

  const long = await start(t, { account: () => 'b'.repeat(2000) })
  assert.equal((await long.post({ username: 'alice', password: 'x' })).status, 400)
  assertNothingCounted(long.guard)

  const throwing = await start(t, {
    account: () => {
      throw new Error('user directory unreachable')
    },
  })
  const r = await throwing.post({ username: 'alice', password: 'correct horse' })
  assert.deepEqual([r.status, r.body], [500, { error: 'application_error', message: 'user directory unreachable' }])
  assert.equal(throwing.seen.route, 0)
  assertNothingCounted(throwing.guard)
})

test('req.loginguard.account is the account the counters keyed', async (t) => {
  const guard = new Guard({ manualClock: true })
  const app = express()
  let keyed
  app.post('/login', express.json(), loginguard({ guard, account: (req) => req.body.username.trim().toLowerCase() }), (req, res) => {
    keyed = req.loginguard.account
    req.loginguard.failure()
    res.status(401).end()
  })
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  t.after(() => new Promise((r) => server.close(r)))
  await fetch(`http://127.0.0.1:${server.address().port}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: ' Alice ' }),
  })
  assert.equal(keyed, 'alice')
})

test('the factory refuses an account option that is not a function, or a bad accountField', () => {
  assert.throws(() => loginguard({ guard: new Guard(), account: 'username' }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => loginguard({ guard: new Guard(), accountField: 3 }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => loginguard({ guard: new Guard(), accountField: '' }), { code: 'ERR_LOGINGUARD_TYPE' })
})
