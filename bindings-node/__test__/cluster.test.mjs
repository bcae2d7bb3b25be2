// The shared store across a Node cluster: the CAPTCHA appears after the 4th
// failure whichever worker process answers each request.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function post(port, fields) {
  // A fresh connection per request (agent: false), so the cluster spreads them over workers.
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(fields).toString()
    const req = request(
      { host: '127.0.0.1', port, path: '/login', method: 'POST', agent: false,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let data = ''
        res.on('data', (c) => (data += c))
        res.on('end', () => resolve({ status: res.statusCode, worker: res.headers['x-worker'], body: JSON.parse(data) }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

test('a cluster of 4 workers shares one set of counters', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loginguard-cluster-'))
  const policy = join(dir, 'policy.toml')
  writeFileSync(policy, `[store]\nkind = "shared"\npath = ${JSON.stringify(join(dir, 'counters.store'))}\ncapacity = 4096\n`)
  const server = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'cluster-server.cjs'), policy, '4'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.after(() => {
    server.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  })
  const port = await new Promise((resolve, reject) => {
    let out = ''
    server.stdout.on('data', (c) => {
      out += c
      const m = out.match(/ready (\d+)/)
      if (m) resolve(Number(m[1]))
    })
    server.on('exit', (code) => reject(new Error(`cluster exited with ${code}`)))
  })

  const workers = new Set()
  for (let i = 1; i <= 4; i++) {
    const r = await post(port, { username: 'alice', password: `guess ${i}` })
    assert.equal(r.status, 401, `failure ${i}`)
    workers.add(r.worker)
  }
  assert.ok(workers.size >= 2, `the 4 failures all went to one worker: ${[...workers]}`)
  // After the 4th failure, every worker asks for the CAPTCHA.
  for (let i = 0; i < 4; i++) {
    const r = await post(port, { username: 'alice', password: 'correct horse' })
    assert.equal(r.status, 403)
    assert.equal(r.body.error, 'challenge_required')
    workers.add(r.worker)
  }
  assert.ok(workers.size >= 3, `requests reached only ${workers.size} workers`)
})
