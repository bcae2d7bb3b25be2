// AsyncGuard on the redis store, against a redis-server of this file's own: Promises that
// never block the event loop (a frozen server is waited on elsewhere, and `on_error`
// decides with `degraded: true`), errors as rejections with codes, no lost update at 32
// concurrent clients, events. The memory store through AsyncGuard, and Guard refusing redis.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { needsRedis, redisCommand, startRedis } from '../bench/redis-server.mjs'

const require = createRequire(import.meta.url)
const { AsyncGuard, Guard } = require('../loginguard.js')

const opts = needsRedis()
let redis
let prefixes = 0

// Deadlines for a loaded test machine (the default 100 ms would make a slow call a
// degraded decision), unless the test sets its own.
function deadlines(store) {
  const timeout = /^timeout =/m.test(store) ? '' : 'timeout = "5s"\n'
  const connect = /^connect_timeout =/m.test(store) ? '' : 'connect_timeout = "2s"\n'
  return timeout + connect
}

function policy(extra = '', store = '') {
  return `${extra}\n[store]\nkind = "redis"\nurl = "${redis.url}"\nclock = "host"\nprefix = "t${++prefixes}"\n${deadlines(store)}${store}`
}

test('start redis-server', opts, async (t) => {
  redis = await startRedis()
})

test.after(() => redis?.stop())

test('a redis AsyncGuard answers with Promises: the seed story, events, inspect, resets', opts, async () => {
  const g = await AsyncGuard.create({ policy: policy(), manualClock: true })
  assert.equal(g.isAsync, true)
  assert.equal(g.redis, true)
  const events = []
  g.on('event', (e) => events.push(e.kind))
  const attempt = { account: 'alice', ip: '203.0.113.7' }
  const begin = g.begin(attempt)
  assert.ok(begin instanceof Promise)
  assert.equal((await begin).action, 'allow')
  for (let i = 0; i < 3; i++) await g.begin(attempt)
  const d = await g.check(attempt)
  assert.deepEqual(d, { action: 'challenge', reason: 'account', retryAfterMs: null, failures: 4, degraded: false })
  assert.deepEqual(events, ['challenge'])
  const seen = await g.inspect(attempt)
  assert.equal(seen.dimensions.find((s) => s.dimension === 'account').failures, 4)
  await g.resetAccount('alice')
  assert.equal((await g.check(attempt)).action, 'allow')
  assert.deepEqual(events, ['challenge', 'reset_account'])
  await g.recordSuccess({ ...attempt, afterBegin: true })
  await g.resetIp('203.0.113.7')
  const stats = await g.stats()
  assert.ok(stats.allow >= 4)
})

test('bad input rejects with its code; the sync Guard refuses a redis policy', opts, async () => {
  const g = await AsyncGuard.create({ policy: policy() })
  await assert.rejects(g.check({ account: 'a', ip: 'not an ip' }), { code: 'ERR_LOGINGUARD_INVALID_IP' })
  await assert.rejects(g.begin({}), { code: 'ERR_LOGINGUARD_INVALID_ATTEMPT' })
  await assert.rejects(g.recordFailure(null), { code: 'ERR_LOGINGUARD_TYPE' })
  await assert.rejects(g.resetAccount(42), { code: 'ERR_LOGINGUARD_TYPE' })
  await assert.rejects(g.begin({ account: 'a', challengePassed: 'yes' }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => new Guard({ policy: policy() }), (err) => err.code === 'ERR_LOGINGUARD_STORE' && /AsyncGuard/.test(err.message))
  await assert.rejects(AsyncGuard.create({ policy: '[store]\nkind = "redis"' }), { code: 'ERR_LOGINGUARD_POLICY' })
  assert.throws(() => new AsyncGuard(), { code: 'ERR_LOGINGUARD_TYPE' })
})

test('on a frozen Redis the event loop keeps running and on_error decides, degraded', opts, async (t) => {
  for (const onError of ['deny', 'challenge', 'allow']) {
    const g = await AsyncGuard.create({ policy: policy('', `timeout = "300ms"\non_error = "${onError}"`), manualClock: true })
    const attempt = { account: 'frozen', ip: '198.51.100.1' }
    assert.equal((await g.begin(attempt)).degraded, false)
    redis.freeze()
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    try {
      const started = Date.now()
      const pending = g.begin(attempt)
      const d = await pending
      const waited = Date.now() - started
      assert.equal(d.degraded, true, onError)
      assert.equal(d.action, onError)
      // The call waited on Redis (about 300 ms) while the loop ran its timer meanwhile.
      assert.ok(waited >= 100, `waited ${waited} ms`)
      assert.ok(waited < 10_000, `waited ${waited} ms`)
      assert.ok(ticks >= 5, `the event loop ticked ${ticks} times while the call waited`)
    } finally {
      clearInterval(timer)
      redis.thaw()
    }
    // Redis back: answers again, not degraded (a reconnect may take a call or two).
    let back
    for (let i = 0; i < 50; i++) {
      back = await g.check(attempt)
      if (!back.degraded) break
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(back.degraded, false)
  }
})

test("redis calls leave libuv's pool free: a file read finishes while 8 calls wait on a frozen Redis", opts, async () => {
  const g = await AsyncGuard.create({ policy: policy('', 'timeout = "1s"\nconnect_timeout = "1s"\non_error = "deny"'), manualClock: true })
  await g.check({ account: 'pool', ip: '198.51.100.2' })
  redis.freeze()
  try {
    let settled = 0
    const calls = Array.from({ length: 8 }, (_, i) =>
      g.begin({ account: `pool${i}`, ip: '198.51.100.2' }).finally(() => settled++),
    )
    // libuv's pool has 4 threads: 8 calls on it would hold the read back until they end.
    await readFile(import.meta.filename)
    assert.equal(settled, 0, 'the file was read while every call still waited')
    const decisions = await Promise.all(calls)
    assert.ok(decisions.every((d) => d.degraded && d.action === 'deny'))
  } finally {
    redis.thaw()
  }
})

test('round trips, from stats().redis: check 1, begin and recordFailure at most 2', opts, async () => {
  const g = await AsyncGuard.create({ policy: policy(), manualClock: true })
  const trips = async () => (await g.stats()).redis.roundTrips
  const statsCost = -(await trips()) + (await trips())
  const attempt = { account: 'trips', ip: '203.0.113.99' }
  await g.begin(attempt) // loads the scripts
  for (const [op, most] of [['check', 1], ['begin', 2], ['recordFailure', 2], ['check', 1]]) {
    const before = await trips()
    await g[op](attempt)
    const sent = (await trips()) - before - statsCost
    assert.ok(sent >= 1 && sent <= most, `${op}: ${sent} round trips`)
  }
  const { redis: r } = await g.stats()
  assert.equal(r.errors, 0)
  assert.equal(r.circuitOpen, false)
  assert.equal((await (await AsyncGuard.create({})).stats()).redis, null)
})

test('stats().redis counts meta keys healed and mismatched, and policies mismatched', opts, async () => {
  const first = policy()
  const g = await AsyncGuard.create({ policy: first, manualClock: true })
  await g.recordFailure({ account: 'alice', ip: '203.0.113.7' })
  const r = (await g.stats()).redis
  assert.deepEqual([r.metaHealed, r.metaMismatches, r.policyMismatches], [0, 0, 0])
  const prefix = /prefix = "([^"]+)"/.exec(first)[1]
  await redisCommand(redis.port, 'DEL', `${prefix}:meta`)
  assert.equal((await g.stats()).redis.metaHealed, 1, 'stats() restored the meta key')
  // A second guard on the same prefix with another policy: a rolling deploy.
  const other = await AsyncGuard.create({ policy: `[account]\nchallenge_after = 5\n${first}`, manualClock: true })
  assert.equal((await other.stats()).redis.policyMismatches, 1)
  assert.equal((await other.stats()).redis.metaMismatches, 0)
})

test('32 concurrent recordFailure promises on one key end with exactly 32 failures', opts, async () => {
  const off = 'challenge_after = false\nlock_after = false\nreset_after = false'
  const g = await AsyncGuard.create({
    policy: policy(`[account]\n${off}\n[account_ip]\n${off}\n[ip]\n${off}`),
    manualClock: true,
  })
  const attempt = { account: 'contended', ip: '192.0.2.9' }
  const decisions = await Promise.all(Array.from({ length: 32 }, () => g.recordFailure(attempt)))
  assert.ok(decisions.every((d) => !d.degraded))
  const seen = await g.inspect(attempt)
  for (const s of seen.dimensions) assert.equal(s.failures, 32, s.dimension)
  // Each call saw its own update: the counts handed back are exactly 1..32.
  assert.deepEqual(decisions.map((d) => d.failures).sort((a, b) => a - b), Array.from({ length: 32 }, (_, i) => i + 1))
})

test('two AsyncGuards on one Redis (two hosts) share the counters', opts, async () => {
  const p = policy()
  const [a, b] = await Promise.all([AsyncGuard.create({ policy: p }), AsyncGuard.create({ policy: p })])
  const attempt = { account: 'shared', ip: '203.0.113.50' }
  for (let i = 0; i < 4; i++) await (i % 2 ? b : a).recordFailure(attempt)
  assert.equal((await a.check(attempt)).action, 'challenge')
  assert.equal((await b.check(attempt)).action, 'challenge')
})

test('two AsyncGuards on one Redis share the site-wide window', opts, async () => {
  const site = '[site]\nchallenge_when = "10/1m"'
  const p = policy(site)
  const a = await AsyncGuard.create({ policy: p, manualClock: true })
  const b = await AsyncGuard.create({ policy: p, manualClock: true })
  for (let i = 0; i < 11; i++) {
    await (i % 2 ? a : b).recordFailure({ account: `user${i}`, ip: `10.0.${i}.1` })
  }
  const s = await b.siteState()
  assert.deepEqual([s.rate, s.trigger, s.active], [11, 10, true])
  const d = await a.check({ account: 'alice', ip: '203.0.113.7' })
  assert.deepEqual([d.action, d.reason, d.failures], ['challenge', 'site', 11])
})

test('AsyncGuard on the memory store: resolved Promises, same decisions as Guard', async () => {
  const g = await AsyncGuard.create({ policy: '[account]\nchallenge_after = 2', manualClock: true })
  assert.equal(g.redis, false)
  const events = []
  g.on('event', (e) => events.push(e.kind))
  for (let i = 0; i < 3; i++) await g.recordFailure({ account: 'm' })
  assert.equal((await g.check({ account: 'm' })).action, 'challenge')
  assert.deepEqual(events, ['challenge'])
  g.advanceMs(1000)
  assert.equal((await g.inspect({ account: 'm' })).dimensions[0].failures, 3)
  assert.ok((await g.stats()).capacity > 0)
  await assert.rejects(g.check({}), { code: 'ERR_LOGINGUARD_INVALID_ATTEMPT' })
})
