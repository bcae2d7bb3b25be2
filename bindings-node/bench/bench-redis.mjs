// The SPEC's login-failure workload (zipf, fewer attempts) on ONE local redis-server that this
// bench starts, in one run: loginguard's AsyncGuard on the redis store, and
// rate-limiter-flexible's RateLimiterRedis over ioredis, both its login example (two
// limiters: get both, then consume both on the failure) and a single limiter's consume.
// Reported: median and p99 latency per attempt with one client, Redis commands per attempt
// (INFO commandstats deltas), and throughput with 1 and 32 concurrent clients (in-flight
// promises). Redis counts the commands a script runs too (EVALSHA plus what it calls).
// Contenders take turns, RUNS times, on fresh keys; each figure is the median over the runs.
// Usage: node bench/bench-redis.mjs [attempts] [runs]   (make bench-node-redis)
import { createRequire } from 'node:module'
import { commandCalls, startRedis } from './redis-server.mjs'

const require = createRequire(import.meta.url)
const { AsyncGuard } = require('../loginguard.js')
const { RateLimiterRedis } = require('rate-limiter-flexible')
const Redis = require('ioredis')

const ATTEMPTS = Math.max(1000, Number(process.argv[2] ?? 20_000))
const RUNS = Math.max(1, Number(process.argv[3] ?? 3))
const WARMUP = 2000
const MASK = (1n << 64n) - 1n

function splitmix64(seed) {
  let state = BigInt(seed)
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK
    let z = state
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK
    return z ^ (z >> 31n)
  }
}

// The SPEC's zipf variant: seed 42, 100,000 accounts with P(i) ~ 1/(i+1), 10,000 IPs.
function zipfWorkload(n) {
  const next = splitmix64(42)
  const cdf = new Float64Array(100_000)
  let sum = 0
  for (let i = 0; i < cdf.length; i++) cdf[i] = sum += 1 / (i + 1)
  const accounts = new Array(n)
  const ips = new Array(n)
  for (let k = 0; k < n; k++) {
    const target = Number(next() >> 11n) * 2 ** -53 * sum
    let lo = 0
    let hi = cdf.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] > target) hi = mid
      else lo = mid + 1
    }
    const j = Number(next() % 10000n)
    accounts[k] = `user${lo}@example.com`
    ips[k] = `10.${Math.floor(j / 256)}.${j % 256}.7`
  }
  return { accounts, ips }
}

const redis = await startRedis()
const ioredis = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: false })
let runs = 0

// Each contender: `setup()` makes fresh keys (a new prefix) and returns `attempt(account, ip)`.
const contenders = [
  {
    name: 'loginguard begin (failure recorded in advance)',
    async setup() {
      const guard = await AsyncGuard.create({
        policy: `[store]\nkind = "redis"\nurl = "${redis.url}"\nprefix = "lg${++runs}"\ntimeout = "2s"\n`,
      })
      const attempt = async (account, ip) => {
        const d = await guard.begin({ account, ip })
        if (d.degraded) degraded++
      }
      attempt.guard = guard
      return attempt
    },
  },
  {
    name: 'loginguard check + recordFailure',
    async setup() {
      const guard = await AsyncGuard.create({
        policy: `[store]\nkind = "redis"\nurl = "${redis.url}"\nprefix = "lg${++runs}"\ntimeout = "2s"\n`,
      })
      const attempt = async (account, ip) => {
        const a = { account, ip }
        const d = await guard.check(a)
        if (d.degraded) degraded++
        if (d.action === 'deny') return
        if ((await guard.recordFailure(a)).degraded) degraded++
      }
      attempt.guard = guard
      return attempt
    },
  },
  {
    // The binding's own cost: the lock cache answers (no round trip but one a second, when
    // the cache's trust in what it saw runs out), so what is left is the hand-off to the
    // blocking pool and back and the Promise's settling.
    name: 'loginguard begin on a locked key (lock cache: the binding alone)',
    async setup() {
      const guard = await AsyncGuard.create({
        policy: `[store]\nkind = "redis"\nurl = "${redis.url}"\nprefix = "lg${++runs}"\ntimeout = "2s"\n`,
      })
      const locked = { account: 'locked@example.com', ip: '10.255.255.7' }
      for (let i = 0; i < 11; i++) await guard.recordFailure(locked)
      const attempt = async () => {
        const d = await guard.begin(locked)
        if (d.degraded) degraded++
      }
      attempt.guard = guard
      return attempt
    },
  },
  {
    // https://github.com/animir/node-rate-limiter-flexible/wiki/Overall-example#login-endpoint-protection
    name: 'rate-limiter-flexible login example (2 limiters)',
    async setup() {
      const prefix = `rlf${++runs}`
      const maxWrongAttemptsByIPperDay = 100
      const maxConsecutiveFailsByUsernameAndIP = 10
      const byIp = new RateLimiterRedis({
        storeClient: ioredis,
        keyPrefix: `${prefix}_login_fail_ip_per_day`,
        points: maxWrongAttemptsByIPperDay,
        duration: 60 * 60 * 24,
        blockDuration: 60 * 60 * 24,
      })
      const byUserIp = new RateLimiterRedis({
        storeClient: ioredis,
        keyPrefix: `${prefix}_login_fail_consecutive_username_and_ip`,
        points: maxConsecutiveFailsByUsernameAndIP,
        duration: 60 * 60 * 24 * 90,
        blockDuration: 60 * 60,
      })
      return async (account, ip) => {
        const key = `${account}_${ip}`
        const [resUserIp, resIp] = await Promise.all([byUserIp.get(key), byIp.get(ip)])
        if (resIp !== null && resIp.consumedPoints > maxWrongAttemptsByIPperDay) return
        if (resUserIp !== null && resUserIp.consumedPoints > maxConsecutiveFailsByUsernameAndIP) return
        try {
          await Promise.all([byIp.consume(ip), byUserIp.consume(key)])
        } catch (rejected) {
          if (rejected instanceof Error) throw rejected
        }
      }
    },
  },
  {
    name: 'rate-limiter-flexible single limiter consume',
    async setup() {
      const limiter = new RateLimiterRedis({ storeClient: ioredis, keyPrefix: `rlf${++runs}`, points: 10, duration: 60 * 60, blockDuration: 60 * 60 })
      return async (account, ip) => {
        try {
          await limiter.consume(`${account}_${ip}`)
        } catch (rejected) {
          if (rejected instanceof Error) throw rejected
        }
      }
    },
  },
]

let degraded = 0
const { accounts, ips } = zipfWorkload(ATTEMPTS + WARMUP)

// One client: attempts one after another, each timed.
async function oneClient(attempt) {
  for (let k = ATTEMPTS; k < ATTEMPTS + WARMUP; k++) await attempt(accounts[k], ips[k])
  const before = await commandCalls(redis.port)
  // The guard's own count of round trips (stats() sends a few itself: measured, then subtracted).
  const roundTrips = async () => (await attempt.guard.stats()).redis.roundTrips
  const statsCost = attempt.guard ? -(await roundTrips()) + (await roundTrips()) : 0
  const tripsBefore = attempt.guard ? await roundTrips() : 0
  const times = new Float64Array(ATTEMPTS)
  const start = process.hrtime.bigint()
  for (let k = 0; k < ATTEMPTS; k++) {
    const t0 = process.hrtime.bigint()
    await attempt(accounts[k], ips[k])
    times[k] = Number(process.hrtime.bigint() - t0)
  }
  const total = Number(process.hrtime.bigint() - start)
  const after = await commandCalls(redis.port)
  const trips = attempt.guard ? ((await roundTrips()) - tripsBefore - statsCost) / ATTEMPTS : null
  const commands = {}
  let all = 0
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0) - (name === 'info' ? 1 : 0)
    if (d > 0) {
      commands[name] = d / ATTEMPTS
      all += d
    }
  }
  times.sort()
  return {
    medianUs: times[Math.floor(ATTEMPTS / 2)] / 1000,
    p99Us: times[Math.floor(ATTEMPTS * 0.99)] / 1000,
    perSecond: ATTEMPTS / (total / 1e9),
    commands: all / ATTEMPTS,
    byCommand: commands,
    trips,
  }
}

// `clients` concurrent clients (in-flight promises), each taking the next attempt.
async function manyClients(attempt, clients) {
  let next = 0
  const start = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let k = next++; k < ATTEMPTS; k = next++) await attempt(accounts[k], ips[k])
    }),
  )
  return ATTEMPTS / (Number(process.hrtime.bigint() - start) / 1e9)
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = contenders.map(() => [])
try {
  for (let r = 0; r < RUNS; r++) {
    for (const [i, c] of contenders.entries()) {
      degraded = 0
      const single = await oneClient(await c.setup())
      const at32 = await manyClients(await c.setup(), 32)
      results[i].push({ ...single, at32, degraded })
    }
  }
} finally {
  ioredis.disconnect()
  redis.stop()
}

const rows = contenders.map((c, i) => {
  const rs = results[i]
  const pick = (k) => median(rs.map((x) => x[k]))
  return {
    name: c.name,
    medianUs: pick('medianUs'),
    p99Us: pick('p99Us'),
    perSecond: pick('perSecond'),
    at32: pick('at32'),
    commands: pick('commands'),
    byCommand: rs[0].byCommand,
    trips: rs[0].trips,
    degraded: rs.reduce((n, x) => n + x.degraded, 0),
  }
})
const version = (await import('node:fs')).readFileSync('/proc/version', 'utf8').split(' ')[2]
console.log(`Node ${process.version}, Linux ${version}; one local redis-server; zipf workload, ${ATTEMPTS} attempts per run, median of ${RUNS} runs`)
console.log('| contender | median us | p99 us | round trips / attempt | Redis commands / attempt | attempts/s, 1 client | attempts/s, 32 clients |')
console.log('|-----------|----------:|-------:|----------------------:|-------------------------:|---------------------:|-----------------------:|')
for (const r of rows) {
  const cmds = Object.entries(r.byCommand).filter(([, v]) => v >= 0.005).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')
  const trips = r.trips === null ? '—' : r.trips.toFixed(2)
  console.log(`| ${r.name} | ${r.medianUs.toFixed(1)} | ${r.p99Us.toFixed(1)} | ${trips} | ${r.commands.toFixed(2)} (${cmds}) | ${r.perSecond.toFixed(0)} | ${r.at32.toFixed(0)} |`)
}
const single = rows.find((r) => r.name.includes('single'))
for (const r of rows.filter((x) => x.name.startsWith('loginguard'))) {
  console.log(`${r.name}: median ${(r.medianUs / single.medianUs).toFixed(2)}x rate-limiter-flexible's single-limiter consume (target <= 1.5x)${r.degraded ? `; ${r.degraded} degraded decisions` : ''}`)
}
