// The SPEC's login-failure workload through loginguard and through
// rate-limiter-flexible's documented login-protection pattern (RateLimiterMemory),
// in one process run. One attempt = the pre-authentication check, then recording
// the failure, with account and IP handed over as text. Usage: node --expose-gc bench/bench.mjs [runs]
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Guard } = require('../loginguard.js')
const { RateLimiterMemory } = require('rate-limiter-flexible')

const ATTEMPTS = 200_000
const RUNS = Math.max(5, Number(process.argv[2] ?? 5))
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

function zipfWorkload() {
  const next = splitmix64(42)
  const cdf = new Float64Array(100_000)
  let sum = 0
  for (let i = 0; i < cdf.length; i++) cdf[i] = sum += 1 / (i + 1)
  const accounts = new Array(ATTEMPTS)
  const ips = new Array(ATTEMPTS)
  for (let n = 0; n < ATTEMPTS; n++) {
    const u = Number(next() >> 11n) * 2 ** -53
    const target = u * sum
    let lo = 0
    let hi = cdf.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid] > target) hi = mid
      else lo = mid + 1
    }
    const j = Number(next() % 10000n)
    accounts[n] = `user${lo}@example.com`
    ips[n] = `10.${Math.floor(j / 256)}.${j % 256}.7`
  }
  return { accounts, ips }
}

function hotWorkload() {
  return { accounts: new Array(ATTEMPTS).fill('user0@example.com'), ips: new Array(ATTEMPTS).fill('10.0.0.7') }
}

function runLoginguard({ accounts, ips }) {
  const guard = new Guard()
  const start = process.hrtime.bigint()
  let denied = 0
  for (let n = 0; n < ATTEMPTS; n++) {
    const attempt = { account: accounts[n], ip: ips[n] }
    if (guard.check(attempt).action === 'deny') denied++
    guard.recordFailure(attempt)
  }
  const ns = Number(process.hrtime.bigint() - start) / ATTEMPTS
  return { ns, denied }
}

// The race-free flow: one `begin` per attempt (it checks and records the failure in advance).
function runLoginguardBegin({ accounts, ips }) {
  const guard = new Guard()
  const start = process.hrtime.bigint()
  let denied = 0
  for (let n = 0; n < ATTEMPTS; n++) {
    if (guard.begin({ account: accounts[n], ip: ips[n] }).action === 'deny') denied++
  }
  const ns = Number(process.hrtime.bigint() - start) / ATTEMPTS
  return { ns, denied }
}

// https://github.com/animir/node-rate-limiter-flexible/wiki/Overall-example#login-endpoint-protection
// The wiki keeps consecutive failures for 90 days; RateLimiterMemory expires keys with
// setTimeout, which Node caps at 2^31-1 ms (it warns, then fires after 1 ms and the key is
// lost), so this bench keeps them for 24 days, the longest a memory limiter can.
const CONSECUTIVE_DURATION_S = 60 * 60 * 24 * 24
const maxWrongAttemptsByIPperDay = 100
const maxConsecutiveFailsByUsernameAndIP = 10

async function runRateLimiterFlexible({ accounts, ips }) {
  const limiterSlowBruteByIP = new RateLimiterMemory({
    keyPrefix: 'login_fail_ip_per_day',
    points: maxWrongAttemptsByIPperDay,
    duration: 60 * 60 * 24,
    blockDuration: 60 * 60 * 24,
  })
  const limiterConsecutiveFailsByUsernameAndIP = new RateLimiterMemory({
    keyPrefix: 'login_fail_consecutive_username_and_ip',
    points: maxConsecutiveFailsByUsernameAndIP,
    duration: CONSECUTIVE_DURATION_S,
    blockDuration: 60 * 60,
  })
  const start = process.hrtime.bigint()
  let denied = 0
  for (let n = 0; n < ATTEMPTS; n++) {
    const ipAddr = ips[n]
    const usernameIPkey = `${accounts[n]}_${ipAddr}`
    const [resUsernameAndIP, resSlowByIP] = await Promise.all([
      limiterConsecutiveFailsByUsernameAndIP.get(usernameIPkey),
      limiterSlowBruteByIP.get(ipAddr),
    ])
    let retrySecs = 0
    if (resSlowByIP !== null && resSlowByIP.consumedPoints > maxWrongAttemptsByIPperDay) {
      retrySecs = Math.round(resSlowByIP.msBeforeNext / 1000) || 1
    } else if (
      resUsernameAndIP !== null &&
      resUsernameAndIP.consumedPoints > maxConsecutiveFailsByUsernameAndIP
    ) {
      retrySecs = Math.round(resUsernameAndIP.msBeforeNext / 1000) || 1
    }
    if (retrySecs > 0) {
      denied++
      continue
    }
    try {
      await Promise.all([
        limiterSlowBruteByIP.consume(ipAddr),
        limiterConsecutiveFailsByUsernameAndIP.consume(usernameIPkey),
      ])
    } catch (rlRejected) {
      if (rlRejected instanceof Error) throw rlRejected
    }
  }
  const ns = Number(process.hrtime.bigint() - start) / ATTEMPTS
  return { ns, denied }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const gc = globalThis.gc ?? (() => {})

const rows = []
for (const [variant, workload] of [
  ['zipf', zipfWorkload()],
  ['hot', hotWorkload()],
]) {
  const ours = []
  const peer = []
  const begin = []
  for (let r = 0; r < RUNS; r++) {
    gc()
    ours.push(runLoginguard(workload).ns)
    gc()
    begin.push(runLoginguardBegin(workload).ns)
    gc()
    peer.push((await runRateLimiterFlexible(workload)).ns)
  }
  rows.push({ variant, loginguard: median(ours), rlf: median(peer), begin: median(begin) })
}

console.log(`Node ${process.version}, ${ATTEMPTS} attempts per run, median of ${RUNS} runs (ns per attempt)`)
console.log('| variant | loginguard | rate-limiter-flexible (memory, login pattern) | ratio |')
console.log('|---------|-----------:|----------------------------------------------:|------:|')
for (const r of rows) {
  console.log(`| ${r.variant} | ${r.loginguard.toFixed(0)} | ${r.rlf.toFixed(0)} | ${(r.rlf / r.loginguard).toFixed(1)}x |`)
}
console.log('\nloginguard `begin` (the race-free flow: one call per attempt, not compared with the peer), target <= 400 ns zipf')
console.log('| variant | loginguard begin |')
console.log('|---------|-----------------:|')
for (const r of rows) console.log(`| ${r.variant} | ${r.begin.toFixed(0)} |`)
