// Replays every case in conformance/ (format in conformance/README.md), as core/tests/conformance.rs does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const { Guard, letsPasswordBeChecked } = createRequire(import.meta.url)('../loginguard.js')
const dir = join(import.meta.dirname, '..', '..', 'conformance')

const decode = (v) => decodeURIComponent(v)

function parseArgs(words) {
  const args = { attempt: {}, flags: [] }
  for (const w of words) {
    const eq = w.indexOf('=')
    if (eq < 0) {
      args.flags.push(w)
      continue
    }
    const key = w.slice(0, eq)
    if (!['account', 'ip', 'device'].includes(key)) throw new Error(`unknown argument ${key}`)
    args.attempt[key] = decode(w.slice(eq + 1))
  }
  return args
}

function render(run) {
  let d
  try {
    d = run()
  } catch (err) {
    const m = /^ERR_LOGINGUARD_([A-Z_]+)$/.exec(err.code ?? '')
    if (!m) throw err
    return `error ${m[1].toLowerCase()}`
  }
  let s = d.action
  if (d.reason !== null) s += ` ${d.reason}`
  if (d.retryAfterMs !== null) s += ` retry=${d.retryAfterMs}`
  return `${s} failures=${d.failures}`
}

function runCase(path) {
  const policy = []
  let guard = null
  const lines = readFileSync(path, 'utf8').split('\n')
  lines.forEach((raw, n) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    if (line.startsWith('policy ')) {
      assert.equal(guard, null, 'policy after the first step')
      policy.push(line.slice('policy '.length))
      return
    }
    guard ??= new Guard({ policy: policy.join('\n'), manualClock: true })
    const [step, expect] = line.includes(' -> ') ? line.split(' -> ') : [line, undefined]
    let words = step.split(/\s+/)
    let times = 1
    if (words[0] === 'repeat') {
      times = Number(words[1])
      words = words.slice(2)
    }
    const op = words[0]
    let got
    for (let i = 0; i < times; i++) {
      switch (op) {
        case 'advance':
          guard.advanceMs(Number(words[1]))
          got = undefined
          break
        case 'reset_account':
          guard.resetAccount(decode(words[1]))
          break
        case 'reset_ip':
          guard.resetIp(decode(words[1]))
          break
        case 'check':
        case 'begin':
        case 'failure':
        case 'success': {
          const { attempt, flags } = parseArgs(words.slice(1))
          got = render(() => {
            if (op === 'check') return guard.check(attempt)
            if (op === 'begin') return guard.begin({ ...attempt, challengePassed: flags.includes('passed') })
            if (op === 'failure') return guard.recordFailure(attempt)
            guard.recordSuccess({ ...attempt, afterBegin: flags.includes('after_begin') })
            return { action: 'allow', reason: null, retryAfterMs: null, failures: 0 } // not compared
          })
          break
        }
        case 'concurrent': {
          // One JS thread: the N begins run back to back with the clock frozen.
          const n = Number(words[1])
          assert.equal(words[2], 'begin')
          const { attempt, flags } = parseArgs(words.slice(3))
          const passed = flags.includes('passed')
          let through = 0
          for (let k = 0; k < n; k++) {
            if (letsPasswordBeChecked(guard.begin({ ...attempt, challengePassed: passed }), passed)) through++
          }
          got = `through ${through}`
          break
        }
        default:
          throw new Error(`${path}:${n + 1}: unknown step ${op}`)
      }
    }
    if (expect !== undefined) {
      assert.equal(got, expect.trim(), `${path}:${n + 1}: ${line}`)
    }
  })
}

const cases = readdirSync(dir)
  .filter((f) => f.endsWith('.lgc'))
  .sort()

test('the conformance directory holds the cases', () => {
  assert.ok(cases.length >= 38, `only ${cases.length} cases`)
})

for (const file of cases) {
  test(`conformance ${file}`, () => runCase(join(dir, file)))
}
