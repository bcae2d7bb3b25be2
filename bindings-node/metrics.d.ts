import type { Counter, Gauge, Registry } from 'prom-client'
import type { Guard } from './loginguard'

export interface GuardMetricsOptions {
  /** The registry to register on; prom-client's default `register` when absent. */
  register?: Registry
  /** The metric names' prefix; `loginguard_` by default (another one for a second guard on one registry). */
  prefix?: string
  /** Also count the guard's events in `<prefix>events_total{kind, dimension}` (adds an `'event'` listener). */
  events?: boolean
}

/** The registered metrics; their `collect()` reads `guard.stats()` once per scrape. */
export interface GuardMetrics {
  /** `<prefix>decisions_total{action}`: decisions from `check`, `begin` and `recordFailure`. */
  decisions: Counter<'action'>
  /** `<prefix>tracked_keys`: keys the counter table holds (`stats().occupancy`). */
  trackedKeys: Gauge
  /** `<prefix>capacity_keys`: keys the counter table can hold. */
  capacityKeys: Gauge
  /** `<prefix>evictions_total`: keys evicted to make room for others. */
  evictions: Counter
  /** `<prefix>refused_inserts_total`: new keys not stored because every candidate slot was protected. */
  refusedInserts: Counter
  /** `<prefix>memory_bytes`: bytes the counters occupy plus the guard itself. */
  memoryBytes: Gauge
  /** `<prefix>events_total{kind, dimension}`, with `events: true`; `dimension` is `none` for resets. */
  events?: Counter<'kind' | 'dimension'>
}

/** Registers the guard's metrics on a prom-client registry. Throws when the names are taken. */
declare function registerGuardMetrics(guard: Guard, options?: GuardMetricsOptions): GuardMetrics
export default registerGuardMetrics
export { registerGuardMetrics }
