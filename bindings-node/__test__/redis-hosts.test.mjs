// Two hosts sharing one Redis: two Node server processes on two ports, each with its own
// AsyncGuard from the same policy file. Failures alternate between them, and after the
// 4th failure both ask for the CAPTCHA, whichever one answers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { needsRedis, startRedis } from '../bench/redis-server.mjs'

const ROOT = resolve(import.meta.dirname, '..')

// One host: Express, loginguard/express and an AsyncGuard from the policy file.
const SERVER = `
const express = require(${JSON.stringify(join(ROOT, 'node_modules', 'express'))})
const { AsyncGuard } = require(${JSON.stringify(join(ROOT, 'loginguard.js'))})
const loginguard = require(${JSON.stringify(join(ROOT, 'express.js'))})
AsyncGuard.fromPolicyFile(process.argv[2]).then((guard) => {
  const app = express()
  app.post('/login', express.json(), loginguard({ guard }), async (req, res) => {
    res.setHeader('x-host', String(process.pid))
    if (req.body.password === 'correct horse') {
      await req.loginguard.success()
      return res.json({ ok: true })
    }
    await req.loginguard.failure()
    res.status(401).json({ error: 'invalid_credentials' })
  })
  const server = app.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port))
}, (err) => {
  console.error(err)
  process.exit(1)
})
`

function startHost(t, script, policy) {
  const child = spawn(process.execPath, [script, policy], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGTERM'))
  return new Promise((resolvePort, reject) => {
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
      const m = out.match(/ready (\d+)/)
      if (m) resolvePort(Number(m[1]))
    })
    child.on('exit', (code) => reject(new Error(`a host exited with ${code}`)))
  })
}

async function post(port, fields) {
  const res = await fetch(`http://127.0.0.1:${port}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fields),
  })
  return { status: res.status, host: res.headers.get('x-host'), body: await res.json() }
}

test('two hosts on one Redis: the CAPTCHA after the 4th failure, whichever host answers', needsRedis(), async (t) => {
  const redis = await startRedis()
  const dir = mkdtempSync(join(tmpdir(), 'lg-hosts-'))
  t.after(() => {
    redis.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const policy = join(dir, 'policy.toml')
  writeFileSync(policy, `[store]\nkind = "redis"\nurl = "${redis.url}"\ntimeout = "2s"\n`)
  const script = join(dir, 'host.cjs')
  writeFileSync(script, SERVER)
  const ports = await Promise.all([startHost(t, script, policy), startHost(t, script, policy)])
  const hosts = new Set()
  for (let i = 1; i <= 4; i++) {
    const r = await post(ports[i % 2], { username: 'alice', password: `guess ${i}` })
    assert.equal(r.status, 401, `failure ${i}`)
    hosts.add(r.host)
  }
  assert.equal(hosts.size, 2, 'the failures went to both hosts')
  for (const port of [...ports, ...ports]) {
    const r = await post(port, { username: 'alice', password: 'correct horse' })
    assert.equal(r.status, 403)
    assert.equal(r.body.error, 'challenge_required')
  }
})
