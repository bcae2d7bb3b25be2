// A redis-server of its own for each test file and for the bench: a free loopback port, no
// persistence, a temporary directory, stopped by its pid. Without redis-server the tests
// skip, unless LG_REQUIRE_REDIS=1 (as `make test` sets), which fails them.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Whether redis-server can be run; throws when it cannot and LG_REQUIRE_REDIS=1. */
export function redisAvailable() {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
  if (!found && process.env.LG_REQUIRE_REDIS === '1') {
    throw new Error('redis-server is not installed, and LG_REQUIRE_REDIS=1 requires it (make tools-redis installs it)')
  }
  return found
}

/** `node:test` options: skip without redis-server, unless it is required (then the test fails). */
export function needsRedis() {
  if (process.env.LG_REQUIRE_REDIS === '1') return {}
  return redisAvailable() ? {} : { skip: 'redis-server is not installed (LG_REQUIRE_REDIS=1 fails instead)' }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function encode(args) {
  let out = `*${args.length}\r\n`
  for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`
  return out
}

// The end of one complete RESP reply starting at `i`, or -1 when more bytes are needed.
function replyEnd(buf, i = 0) {
  const nl = buf.indexOf('\r\n', i)
  if (nl < 0) return -1
  const type = String.fromCharCode(buf[i])
  if (type === '+' || type === '-' || type === ':') return nl + 2
  const n = Number(buf.toString('latin1', i + 1, nl))
  if (type === '$') {
    if (n < 0) return nl + 2
    return buf.length >= nl + 2 + n + 2 ? nl + 2 + n + 2 : -1
  }
  if (type === '*') {
    let at = nl + 2
    for (let k = 0; k < n; k++) {
      at = replyEnd(buf, at)
      if (at < 0) return -1
    }
    return at
  }
  return -1
}

function parse(buf) {
  const nl = buf.indexOf('\r\n')
  const type = String.fromCharCode(buf[0])
  const head = buf.toString('utf8', 1, nl)
  if (type === '+' || type === ':') return type === ':' ? Number(head) : head
  if (type === '-') throw new Error(head)
  if (type === '$') return Number(head) < 0 ? null : buf.toString('utf8', nl + 2, nl + 2 + Number(head))
  return buf.toString('utf8')
}

/** One command on a fresh connection (for setup and INFO, not for the measured path). */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    socket.setTimeout(5000, () => socket.destroy(new Error('redis did not answer within 5 s')))
    socket.on('error', reject)
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      if (replyEnd(buf) >= 0) {
        socket.end()
        try {
          resolve(parse(buf))
        } catch (err) {
          reject(err)
        }
      }
    })
    socket.write(encode(args))
  })
}

/** `INFO commandstats` as { command: calls }. */
export async function commandCalls(port) {
  const info = await redisCommand(port, 'INFO', 'commandstats')
  const calls = {}
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2])
  return calls
}

/** Starts a redis-server; `stop()` ends it by pid, `freeze()`/`thaw()` send SIGSTOP/SIGCONT. */
export async function startRedis() {
  redisAvailable()
  const dir = mkdtempSync(join(tmpdir(), 'lg-redis-'))
  for (let tries = 0; ; tries++) {
    const port = await freePort()
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let exited = false
    child.on('exit', () => {
      exited = true
    })
    const deadline = Date.now() + 10_000
    while (!exited && Date.now() < deadline) {
      try {
        if ((await redisCommand(port, 'PING')) === 'PONG') {
          const stop = () => {
            if (!exited) {
              child.kill('SIGCONT')
              child.kill('SIGKILL')
            }
            rmSync(dir, { recursive: true, force: true })
          }
          process.once('exit', stop)
          return {
            port,
            url: `redis://127.0.0.1:${port}`,
            pid: child.pid,
            stop,
            freeze: () => child.kill('SIGSTOP'),
            thaw: () => child.kill('SIGCONT'),
          }
        }
      } catch {
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    child.kill('SIGKILL')
    if (tries >= 2) throw new Error(`redis-server did not start on port ${port}`)
  }
}
