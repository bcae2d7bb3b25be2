'use strict'
// Prometheus metrics for a guard: prom-client metrics whose collect() reads guard.stats()
// at scrape time, so nothing is counted on the login path; with `events: true`, also a
// counter of the guard's events (a listener, so opt-in).

const client = require('prom-client')
const { Guard } = require('./loginguard.js')
const { configError } = require('./lib/login.js')

const ACTIONS = { allow: 'allow', challenge: 'challenge', deny: 'deny', resetRequired: 'reset_required' }
const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/**
 * Registers the guard's metrics on `register` (prom-client's default registry unless given).
 * @param {import('./loginguard').Guard} guard
 * @param {import('./metrics').GuardMetricsOptions} [options]
 * @returns {import('./metrics').GuardMetrics}
 */
function registerGuardMetrics(guard, options = {}) {
  if (!(guard instanceof Guard)) throw configError('registerGuardMetrics needs a Guard from require("loginguard")')
  if (options === null || typeof options !== 'object') throw configError('options must be an object like { register, prefix }')
  const { register = client.register, prefix = 'loginguard_', events = false } = options
  if (typeof events !== 'boolean') throw configError('events must be true or false')
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_PREFIX.test(prefix))) {
    throw configError('prefix must be a Prometheus metric name prefix, e.g. "loginguard_"')
  }
  if (register === null || typeof register.registerMetric !== 'function') {
    throw configError('register must be a prom-client Registry')
  }

  // One stats() per scrape: the registry runs every collect() in the same turn.
  let snapshot = null
  function stats() {
    if (snapshot === null) {
      snapshot = guard.stats()
      queueMicrotask(() => {
        snapshot = null
      })
    }
    return snapshot
  }
  const gauge = (name, help, field) =>
    new client.Gauge({
      name: prefix + name,
      help,
      registers: [register],
      collect() {
        const value = stats()[field]
        if (typeof value === 'number') this.set(value)
      },
    })
  const counter = (name, help, field) =>
    new client.Counter({
      name: prefix + name,
      help,
      registers: [register],
      collect() {
        const value = stats()[field]
        this.reset()
        if (typeof value === 'number') this.inc(value)
      },
    })
  const metrics = {
    decisions: new client.Counter({
      name: `${prefix}decisions_total`,
      help: 'Decisions by action from check, begin and recordFailure.',
      labelNames: ['action'],
      registers: [register],
      collect() {
        const s = stats()
        this.reset()
        for (const [field, action] of Object.entries(ACTIONS)) this.inc({ action }, s[field])
      },
    }),
    trackedKeys: gauge('tracked_keys', 'Keys the counter table holds now.', 'occupancy'),
    capacityKeys: gauge('capacity_keys', 'Keys the counter table can hold.', 'capacity'),
    evictions: counter('evictions_total', 'Keys evicted to make room for others.', 'evictions'),
    refusedInserts: counter('refused_inserts_total', 'New keys not stored because every candidate slot was protected.', 'refusedInserts'),
    memoryBytes: gauge('memory_bytes', 'Bytes the counters occupy plus the guard itself.', 'memoryBytes'),
  }
  if (events) {
    const counted = new client.Counter({
      name: `${prefix}events_total`,
      help: 'Guard events: a key past challenge_after, a lock, reset_required, and resets.',
      labelNames: ['kind', 'dimension'],
      registers: [register],
    })
    guard.on('event', (e) => counted.inc({ kind: e.kind, dimension: e.dimension ?? 'none' }))
    metrics.events = counted
  }
  return metrics
}

module.exports = registerGuardMetrics
module.exports.registerGuardMetrics = registerGuardMetrics
module.exports.default = registerGuardMetrics
