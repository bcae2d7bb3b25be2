import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { Guard, letsPasswordBeChecked } = require('../loginguard.js')

const alice = { account: 'alice', ip: '203.0.113.7' }
const allow = (failures) => ({ action: 'allow', reason: null, retryAfterMs: null, failures, degraded: false })

test('the seed story: three failures allowed, the fourth challenges, a success clears', () => {
  const g = new Guard({ manualClock: true })
  for (let n = 1; n <= 3; n++) assert.deepEqual(g.recordFailure(alice), allow(n))
  assert.deepEqual(g.recordFailure(alice), { action: 'challenge', reason: 'account', retryAfterMs: null, failures: 4, degraded: false })
  assert.equal(g.check(alice).action, 'challenge')
  g.recordSuccess(alice)
  assert.deepEqual(g.check(alice), allow(0))
})

test('a lock reports retryAfterMs and ends with the manual clock', () => {
  const g = new Guard({ manualClock: true })
  for (let i = 0; i < 11; i++) g.recordFailure(alice)
  assert.deepEqual(g.check(alice), { action: 'deny', reason: 'account_ip', retryAfterMs: 60000, failures: 11, degraded: false })
  g.advanceMs(59999)
  assert.equal(g.check(alice).retryAfterMs, 1)
  g.advanceMs(1)
  assert.equal(g.check(alice).action, 'challenge')
})

test('begin with challengePassed records in advance; recordSuccess afterBegin takes it back', () => {
  const g = new Guard({ manualClock: true })
  for (let i = 0; i < 4; i++) g.recordFailure({ account: 'bob', ip: '198.51.100.1' })
  const d = g.begin({ account: 'bob', ip: '198.51.100.1', challengePassed: false })
  assert.equal(d.action, 'challenge')
  assert.equal(letsPasswordBeChecked(d, false), false)
  assert.equal(g.inspect({ account: 'bob' }).dimensions[0].failures, 4, 'a refused begin records nothing')
  const passed = g.begin({ account: 'bob', ip: '198.51.100.1', challengePassed: true })
  assert.equal(letsPasswordBeChecked(passed, true), true)
  assert.equal(g.inspect({ account: 'bob' }).dimensions[0].failures, 5)
  g.recordSuccess({ account: 'bob', ip: '198.51.100.1', afterBegin: true })
  assert.deepEqual(g.check({ account: 'bob', ip: '198.51.100.1' }), allow(0))
  const ip = g.inspect({ ip: '198.51.100.1' }).dimensions.find((s) => s.dimension === 'ip')
  assert.equal(ip.failures, 4, 'the ip counter gets its advance back')
})

test('ip and device as bytes (Buffer, Uint8Array) key like their text', () => {
  const g = new Guard({ manualClock: true })
  for (let i = 0; i < 4; i++) g.recordFailure({ ip: Buffer.from([192, 0, 2, 9]) })
  assert.equal(g.inspect({ ip: '192.0.2.9' }).dimensions[0].failures, 4)
  g.recordFailure({ account: 'carol', device: new Uint8Array([1, 2, 3]) })
  const dev = g.inspect({ account: 'carol', device: Buffer.from([1, 2, 3]) }).dimensions
  assert.deepEqual(dev.map((s) => [s.dimension, s.failures]), [['device', 1]])
  g.resetIp(new Uint8Array([192, 0, 2, 9]))
  assert.equal(g.inspect({ ip: '192.0.2.9' }).dimensions[0].failures, 0)
})

test('text keys as the UTF-8 Node gives it: short or long, ASCII or not, a lone surrogate as U+FFFD', () => {
  const g = new Guard({ manualClock: true })
  const texts = ['Zoë', 'ÉLODIE', 'smile 😀', 'lone \uD800 high', 'lone \uDC00 low', 'ends high \uD83D', '\uDE00 starts low', 'ß'.repeat(120)]
  for (const [i, device] of texts.entries()) {
    const account = `owner${i}`
    g.recordFailure({ account, device })
    // Buffer.from writes the UTF-8 that Node-API gives (a lone surrogate as EF BF BD).
    assert.equal(g.inspect({ account, device: Buffer.from(device) }).dimensions[0].failures, 1, JSON.stringify(device))
  }
  // Accounts beside the device texts, and long ones (read another way, from 256 UTF-16 units).
  for (const account of [...texts, 'x'.repeat(255) + 'é\uD800', 'y'.repeat(256), 'é'.repeat(510) + '\uDFFF', 'z'.repeat(1023)]) {
    for (let i = 0; i < 4; i++) g.recordFailure({ account, ip: '198.51.100.4' })
    const d = g.check({ account, ip: '198.51.100.4' })
    assert.deepEqual([d.action, d.reason, d.failures], ['challenge', 'account', 4], JSON.stringify(account))
    assert.equal(g.inspect({ account }).dimensions[0].failures, 4, JSON.stringify(account))
    g.resetIp('198.51.100.4')
  }
})

test('inspect and stats report plain objects', () => {
  const g = new Guard({ policy: '[store]\ncapacity = 4096', manualClock: true })
  for (let i = 0; i < 11; i++) g.recordFailure(alice)
  const i = g.inspect(alice)
  assert.deepEqual(i.decision, { action: 'deny', reason: 'account_ip', retryAfterMs: 60000, failures: 11, degraded: false })
  assert.equal(i.denylisted, false)
  assert.deepEqual(
    i.dimensions.map((s) => [s.dimension, s.failures, s.consecutive, s.lockedUntilMs, s.resetRequired, s.action]),
    [
      ['account', 11, 11, null, false, 'challenge'],
      ['account_ip', 11, 11, 60000, false, 'deny'],
      ['ip', 11, 11, null, false, 'allow'],
      ['ip_range', 11, 11, null, false, 'allow'],
    ],
  )
  assert.equal(i.site, undefined)
  const s = g.stats()
  assert.equal(s.capacity >= 4096, true)
  assert.equal(s.occupancy, 4)
  assert.equal(s.site, null)
  assert.equal(s.allow + s.challenge + s.deny + s.resetRequired, 11)
  assert.equal(s.deny, 1)
})

test('Guard.fromPolicyFile reads TOML; a bad file is a policy error naming the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loginguard-'))
  const good = join(dir, 'good.toml')
  writeFileSync(good, '[account]\nchallenge_after = 1\n')
  const g = Guard.fromPolicyFile(good, { manualClock: true })
  g.recordFailure({ account: 'dave' })
  assert.equal(g.recordFailure({ account: 'dave' }).action, 'challenge')
  const bad = join(dir, 'bad.toml')
  writeFileSync(bad, '[account_ip]\nlock_for = "5"\n')
  assert.throws(() => Guard.fromPolicyFile(bad), { code: 'ERR_LOGINGUARD_POLICY', message: /account_ip\.lock_for/ })
  assert.throws(() => Guard.fromPolicyFile(join(dir, 'missing.toml')), { code: 'ERR_LOGINGUARD_POLICY' })
})

test('events: challenge, lock, reset_required and resets, in order, before the call returns', () => {
  const g = new Guard({ policy: '[account]\nreset_after = 12', manualClock: true })
  const seen = []
  g.on('event', (e) => seen.push(e))
  const decisions = []
  for (let i = 0; i < 12; i++) decisions.push(g.recordFailure(alice))
  // Decisions that come with events unpack as those without.
  assert.deepEqual(decisions[3], { action: 'challenge', reason: 'account', retryAfterMs: null, failures: 4, degraded: false })
  assert.deepEqual(decisions[10], { action: 'deny', reason: 'account_ip', retryAfterMs: 60000, failures: 11, degraded: false })
  assert.deepEqual(seen.map((e) => [e.kind, e.dimension, e.failures]), [
    ['challenge', 'account', 4],
    ['lock', 'account_ip', 11],
  ])
  assert.deepEqual(seen[1], {
    kind: 'lock',
    dimension: 'account_ip',
    account: 'alice',
    ip: '203.0.113.7',
    failures: 11,
    lockUntilMs: 60000,
  })
  const d = g.recordFailure(alice)
  assert.equal(d.action, 'reset_required')
  assert.equal(seen.at(-1).kind, 'reset_required', 'told before recordFailure returned')
  g.resetAccount('alice')
  g.resetIp('203.0.113.7')
  assert.deepEqual(seen.slice(-2).map((e) => [e.kind, e.dimension, e.failures]), [
    ['reset_account', null, 0],
    ['reset_ip', null, 0],
  ])
})

test('events stop when the last listener goes', () => {
  const g = new Guard({ manualClock: true })
  const seen = []
  const fn = (e) => seen.push(e.kind)
  g.on('event', fn)
  g.resetAccount('x')
  g.off('event', fn)
  g.resetAccount('x')
  g.on('event', fn)
  g.resetAccount('x')
  assert.deepEqual(seen, ['reset_account', 'reset_account'])
})

test('a throwing listener changes no decision; its error becomes an uncaught exception', () => {
  const script = `
    const { Guard } = require(${JSON.stringify(require.resolve('../loginguard.js'))})
    const g = new Guard({ manualClock: true })
    g.on('event', () => { throw new Error('listener broke') })
    const out = []
    for (let i = 0; i < 5; i++) out.push(g.recordFailure({ account: 'eve' }).action)
    out.push(g.check({ account: 'eve' }).failures)
    console.log(JSON.stringify(out))
  `
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.equal(r.stdout.trim(), JSON.stringify(['allow', 'allow', 'allow', 'challenge', 'challenge', 5]))
  assert.match(r.stderr, /listener broke/)
  assert.notEqual(r.status, 0)
})

const bad = [
  ['no account and no ip', (g) => g.recordFailure({}), 'ERR_LOGINGUARD_INVALID_ATTEMPT'],
  ['empty values', (g) => g.recordFailure({ account: '', ip: '' }), 'ERR_LOGINGUARD_INVALID_ATTEMPT'],
  ['a device without an account', (g) => g.recordFailure({ ip: '192.0.2.1', device: 'd' }), 'ERR_LOGINGUARD_INVALID_ATTEMPT'],
  ['an account over 1024 bytes', (g) => g.recordFailure({ account: 'é'.repeat(513) }), 'ERR_LOGINGUARD_INVALID_ATTEMPT'],
  ['a huge account', (g) => g.begin({ account: 'a'.repeat(100000), challengePassed: true }), 'ERR_LOGINGUARD_INVALID_ATTEMPT'],
  ['a device over 256 bytes', (g) => g.recordFailure({ account: 'a', device: Buffer.alloc(257) }), 'ERR_LOGINGUARD_INVALID_ATTEMPT'],
  ['a malformed ip', (g) => g.recordFailure({ account: 'a', ip: '1.2.3' }), 'ERR_LOGINGUARD_INVALID_IP'],
  ['an ip with a zone', (g) => g.begin({ account: 'a', ip: 'fe80::1%eth0' }), 'ERR_LOGINGUARD_INVALID_IP'],
  ['raw ip bytes of the wrong length', (g) => g.recordFailure({ account: 'a', ip: Buffer.alloc(5) }), 'ERR_LOGINGUARD_INVALID_IP'],
  ['a malformed ip to resetIp', (g) => g.resetIp('300.1.1.1'), 'ERR_LOGINGUARD_INVALID_IP'],
  ['a number as account', (g) => g.recordFailure({ account: 42, ip: '192.0.2.1' }), 'ERR_LOGINGUARD_TYPE'],
  ['an object as ip', (g) => g.recordFailure({ account: 'a', ip: { v4: 1 } }), 'ERR_LOGINGUARD_TYPE'],
  ['a Float64Array as device', (g) => g.recordFailure({ account: 'a', device: new Float64Array(1) }), 'ERR_LOGINGUARD_TYPE'],
  ['a Buffer as account', (g) => g.check({ account: Buffer.from('a') }), 'ERR_LOGINGUARD_TYPE'],
  ['a string as challengePassed', (g) => g.begin({ account: 'a', challengePassed: 'yes' }), 'ERR_LOGINGUARD_TYPE'],
  ['a number as afterBegin', (g) => g.recordSuccess({ account: 'a', afterBegin: 1 }), 'ERR_LOGINGUARD_TYPE'],
  ['a string as the attempt', (g) => g.recordFailure('alice'), 'ERR_LOGINGUARD_TYPE'],
  ['null as the attempt', (g) => g.begin(null), 'ERR_LOGINGUARD_TYPE'],
  ['no account to resetAccount', (g) => g.resetAccount(undefined), 'ERR_LOGINGUARD_TYPE'],
  ['a number to resetIp', (g) => g.resetIp(7), 'ERR_LOGINGUARD_TYPE'],
  ['a negative advanceMs', (g) => g.advanceMs(-1), 'ERR_LOGINGUARD_TYPE'],
  ['a fractional advanceMs', (g) => g.advanceMs(1.5), 'ERR_LOGINGUARD_TYPE'],
  ['a string advanceMs', (g) => g.advanceMs('10'), 'ERR_LOGINGUARD_TYPE'],
]

for (const [what, call, code] of bad) {
  test(`bad input: ${what} is ${code} and records nothing`, () => {
    const g = new Guard({ manualClock: true })
    const before = g.stats()
    assert.throws(
      () => call(g),
      (err) => err instanceof Error && err.code === code && err.message.length > 0,
    )
    const after = g.stats()
    assert.equal(after.occupancy, before.occupancy, 'nothing recorded')
    assert.equal(after.allow + after.challenge + after.deny + after.resetRequired, 0, 'no decision counted')
  })
}

test('bad policies are ERR_LOGINGUARD_POLICY naming the field', () => {
  const cases = [
    ['[account]\nchallenge_after = -1', 'account.challenge_after'],
    ['[account_ip]\nlock_growth = 0.5', 'account_ip.lock_growth'],
    ['[ip]\nforget_after = "0s"', 'ip.forget_after'],
    ['[store]\ncapacity = 0', 'store.capacity'],
    ['[store]\nkind = "redis"', 'store'],
    ['colour = "blue"', 'colour'],
    ['[account', '(file)'],
  ]
  for (const [policy, field] of cases) {
    assert.throws(
      () => new Guard({ policy }),
      (err) => err.code === 'ERR_LOGINGUARD_POLICY' && err.message.includes(field),
      policy,
    )
  }
  assert.throws(() => new Guard({ policy: 42 }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => new Guard({ manualClock: 'yes' }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => new Guard('policy'), { code: 'ERR_LOGINGUARD_TYPE' })
})

test('advanceMs needs a manual clock', () => {
  assert.throws(() => new Guard().advanceMs(1), { code: 'ERR_LOGINGUARD_CLOCK' })
})

test('a guard on the system clock reports lock ends in Unix milliseconds', () => {
  const g = new Guard()
  const t0 = Date.now()
  let event
  g.on('event', (e) => (event = e))
  for (let i = 0; i < 11; i++) g.recordFailure(alice)
  assert.equal(event.kind, 'lock')
  assert.ok(event.lockUntilMs > t0 + 59000 && event.lockUntilMs <= Date.now() + 60000, String(event.lockUntilMs))
})

test('the README quickstart runs and logs alice in after a CAPTCHA', () => {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'examples', 'quickstart.js')], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.split('\n')
  assert.deepEqual(lines.slice(0, 5), ['wrong password', 'wrong password', 'wrong password', 'event: challenge account 4', 'wrong password'])
  assert.ok(lines.includes('logged in'))
})

test('a policy built in code as an object is the same as its TOML', () => {
  const policy = {
    deny_cidrs: ['192.0.2.0/24'],
    account: { challenge_after: 1, reset_after: false },
    account_ip: { lock_after: 2, lock_for: '30s', lock_growth: 1.5 },
  }
  const g = new Guard({ policy, manualClock: true })
  const a = { account: 'frank', ip: '198.51.100.4' }
  assert.equal(g.recordFailure(a).action, 'allow')
  assert.equal(g.recordFailure(a).action, 'challenge')
  assert.deepEqual(g.recordFailure(a), { action: 'deny', reason: 'account_ip', retryAfterMs: 30000, failures: 3, degraded: false })
  assert.equal(g.check({ account: 'frank', ip: '192.0.2.1' }).reason, 'denylist')
  assert.throws(
    () => new Guard({ policy: { account_ip: { lock_for: '5' } } }),
    (err) => err.code === 'ERR_LOGINGUARD_POLICY' && err.message.includes('account_ip.lock_for'),
  )
  assert.throws(() => new Guard({ policy: { colour: 'blue' } }), { code: 'ERR_LOGINGUARD_POLICY', message: /colour/ })
  assert.throws(() => new Guard({ policy: { account: { challenge_after: null } } }), { code: 'ERR_LOGINGUARD_POLICY' })
})

test('letsPasswordBeChecked is the core rule for every action', () => {
  const cases = [
    ['allow', false, true],
    ['allow', true, true],
    ['challenge', false, false],
    ['challenge', true, true],
    ['deny', true, false],
    ['reset_required', true, false],
  ]
  for (const [action, passed, expected] of cases) {
    assert.equal(letsPasswordBeChecked({ action }, passed), expected, `${action} ${passed}`)
  }
  assert.throws(() => letsPasswordBeChecked({ action: 'maybe' }, true))
})

test('an unknown Guard or AsyncGuard option is refused, naming it and the accepted ones', async () => {
  const { AsyncGuard } = require('../loginguard.js')
  const dir = mkdtempSync(join(tmpdir(), 'loginguard-options-'))
  const file = join(dir, 'loginguard.toml')
  writeFileSync(file, '[account]\nchallenge_after = 1\n')
  const unknown = (key, accepted) => ({
    name: 'TypeError',
    code: 'ERR_LOGINGUARD_TYPE',
    message: `unknown option ${JSON.stringify(key)}: the options are ${accepted}`,
  })
  // `policy:` forgotten: the policy's own tables given as options.
  assert.throws(() => new Guard({ account: { challenge_after: 1 } }), unknown('account', '{ policy, manualClock }'))
  assert.throws(() => new Guard({ polcy: '[account]\nchallenge_after = 1' }), unknown('polcy', '{ policy, manualClock }'))
  assert.throws(() => new Guard({ manualClock: true, manual_clock: true }), unknown('manual_clock', '{ policy, manualClock }'))
  assert.throws(() => Guard.fromPolicyFile(file, { policy: '' }), unknown('policy', '{ manualClock }'))
  await assert.rejects(AsyncGuard.create({ polcy: '[account]\nchallenge_after = 1' }), unknown('polcy', '{ policy, manualClock }'))
  await assert.rejects(AsyncGuard.fromPolicyFile(file, { manualclock: true }), unknown('manualclock', '{ manualClock }'))
  // The accepted keys still work, undefined values included.
  assert.equal(new Guard({ policy: undefined, manualClock: true }).begin(alice).action, 'allow')
  const fromFile = Guard.fromPolicyFile(file, { manualClock: true })
  fromFile.recordFailure(alice)
  assert.equal(fromFile.recordFailure(alice).action, 'challenge') // challenge_after = 1 from the file
  assert.equal((await AsyncGuard.create({ policy: '[account]\nchallenge_after = 1', manualClock: true })).isAsync, true)
  const asyncFromFile = await AsyncGuard.fromPolicyFile(file, {})
  await asyncFromFile.recordFailure(alice)
  assert.equal((await asyncFromFile.recordFailure(alice)).action, 'challenge')
})
