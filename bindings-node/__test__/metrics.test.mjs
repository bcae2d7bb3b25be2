// prom-client metrics from guard.stats(), scraped as Prometheus text.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const client = require('prom-client')
const { Guard } = require('../loginguard.js')
const registerGuardMetrics = require('../metrics.js')

// The samples of a text exposition, as `name{labels}` -> value.
function samples(text) {
  const out = {}
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out[line.slice(0, at)] = Number(line.slice(at + 1))
  }
  return out
}

test('a scrape exposes decisions by action, occupancy, capacity, evictions, refused inserts and memory', async () => {
  const guard = new Guard({ policy: '[store]\ncapacity = 1024', manualClock: true })
  const register = new client.Registry()
  registerGuardMetrics(guard, { register })
  for (let i = 0; i < 11; i++) guard.recordFailure({ account: 'alice', ip: '203.0.113.7' })
  guard.check({ account: 'alice', ip: '203.0.113.7' })
  const text = await register.metrics()
  assert.match(text, /^# HELP loginguard_decisions_total .+\n# TYPE loginguard_decisions_total counter$/m)
  assert.match(text, /^# TYPE loginguard_tracked_keys gauge$/m)
  assert.match(text, /^# TYPE loginguard_evictions_total counter$/m)
  const s = guard.stats()
  assert.deepEqual(samples(text), {
    'loginguard_decisions_total{action="allow"}': 3,
    'loginguard_decisions_total{action="challenge"}': 7,
    'loginguard_decisions_total{action="deny"}': 2,
    'loginguard_decisions_total{action="reset_required"}': 0,
    loginguard_tracked_keys: 4,
    loginguard_capacity_keys: s.capacity,
    loginguard_evictions_total: 0,
    loginguard_refused_inserts_total: 0,
    loginguard_memory_bytes: s.memoryBytes,
  })
  assert.ok(s.capacity >= 1024 && s.memoryBytes > 0)
  // Each scrape reads the guard anew: counters follow the guard, not the scrapes.
  guard.recordFailure({ account: 'bob', ip: '198.51.100.1' })
  const again = samples(await register.metrics())
  assert.equal(again['loginguard_decisions_total{action="allow"}'], 4)
  assert.equal(again.loginguard_tracked_keys, 8, 'bob, bob from his network, his network and its range')
})

test('evictions and refused inserts show when the table is full', async () => {
  const guard = new Guard({ policy: '[store]\ncapacity = 16', manualClock: true })
  const register = new client.Registry()
  registerGuardMetrics(guard, { register, prefix: 'login_' })
  for (let i = 0; i < 200; i++) guard.recordFailure({ account: `user${i}`, ip: `198.51.100.${i % 250}` })
  const s = guard.stats()
  const m = samples(await register.metrics())
  assert.equal(m.login_evictions_total, s.evictions)
  assert.equal(m.login_refused_inserts_total, s.refusedInserts)
  assert.equal(m.login_tracked_keys, s.occupancy)
  assert.ok(s.evictions + s.refusedInserts > 0, 'a full table evicted or refused keys')
  assert.ok(m.login_tracked_keys <= m.login_capacity_keys)
})

test('events: true counts events by kind and dimension', async () => {
  const guard = new Guard({ manualClock: true })
  const register = new client.Registry()
  registerGuardMetrics(guard, { register, events: true })
  for (let i = 0; i < 11; i++) guard.recordFailure({ account: 'alice', ip: '203.0.113.7' })
  guard.resetAccount('alice')
  const m = samples(await register.metrics())
  assert.equal(m['loginguard_events_total{kind="challenge",dimension="account"}'], 1)
  assert.equal(m['loginguard_events_total{kind="lock",dimension="account_ip"}'], 1)
  assert.equal(m['loginguard_events_total{kind="reset_account",dimension="none"}'], 1)
})

test('the default registry, one name per guard, and bad arguments', async () => {
  const guard = new Guard()
  const metrics = registerGuardMetrics(guard)
  assert.equal(client.register.getSingleMetric('loginguard_decisions_total'), metrics.decisions)
  assert.match(await client.register.metrics(), /^loginguard_capacity_keys \d+$/m)
  assert.throws(() => registerGuardMetrics(new Guard()), /already been registered/)
  client.register.clear()
  assert.throws(() => registerGuardMetrics({}), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => registerGuardMetrics(guard, { prefix: 'no spaces' }), { code: 'ERR_LOGINGUARD_TYPE' })
  assert.throws(() => registerGuardMetrics(guard, { register: {} }), { code: 'ERR_LOGINGUARD_TYPE' })
})
