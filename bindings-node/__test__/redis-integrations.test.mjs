// Express, Fastify and Passport on a redis AsyncGuard over real HTTP: the integrations
// await its Promises. The seed story: the 4th failure brings the CAPTCHA step, and with
// CAPTCHAs solved the guessing goes on to a lock, answered 429 with Retry-After.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { needsRedis, startRedis } from '../bench/redis-server.mjs'

const require = createRequire(import.meta.url)
const express = require('express')
const Fastify = require('fastify')
const { Passport } = require('passport')
const { Strategy: LocalStrategy } = require('passport-local')
const { AsyncGuard } = require('../loginguard.js')
const expressLoginguard = require('../express.js')
const fastifyLoginguard = require('../fastify.js')
const guardStrategy = require('../passport.js')

const USERS = { alice: 'correct horse' }
const opts = needsRedis()
let redis
let prefixes = 0

async function redisGuard() {
  // Deadlines for a loaded test machine: the default 100 ms would make a slow call degraded.
  const policy = `[store]\nkind = "redis"\nurl = "${redis.url}"\nclock = "host"\nprefix = "i${++prefixes}"\ntimeout = "5s"\nconnect_timeout = "2s"\n`
  const guard = await AsyncGuard.create({ policy, manualClock: true })
  assert.equal(guard.redis, true)
  return guard
}

function listening(server) {
  return new Promise((resolve) => server.once('listening', () => resolve(`http://127.0.0.1:${server.address().port}`)))
}

async function post(url, fields) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) })
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') }
}

// The story every integration must tell, and what the counters hold afterwards.
async function seedStory(login, guard) {
  for (let i = 1; i <= 4; i++) {
    assert.equal((await login({ username: 'alice', password: `guess ${i}` })).status, 401, `failure ${i}`)
  }
  const challenged = await login({ username: 'alice', password: 'correct horse' })
  assert.equal(challenged.status, 403)
  assert.equal(challenged.body.error, 'challenge_required')
  for (let i = 0; i < 7; i++) {
    assert.equal((await login({ username: 'alice', password: 'guess', captcha: 'solved' })).status, 401)
  }
  const denied = await login({ username: 'alice', password: 'correct horse', captcha: 'solved' })
  assert.equal(denied.status, 429)
  assert.equal(denied.retryAfter, '60')
  assert.equal(denied.body.reason, 'account_ip')
  const seen = await guard.inspect({ account: 'alice', ip: '127.0.0.1' })
  assert.equal(seen.decision.action, 'deny')
  // A success after an unlock is recorded (awaited) and clears the consecutive count.
  await guard.resetAccount('alice')
  assert.equal((await login({ username: 'alice', password: 'correct horse' })).status, 200)
}

test('start redis-server', opts, async () => {
  redis = await startRedis()
})

test.after(() => redis?.stop())

test('Express on a redis AsyncGuard', opts, async (t) => {
  const guard = await redisGuard()
  const app = express()
  app.post(
    '/login',
    express.json(),
    expressLoginguard({ guard, verifyCaptcha: (req) => req.body.captcha === 'solved' }),
    async (req, res) => {
      if (USERS[req.loginguard.account] === req.body.password) {
        await req.loginguard.success()
        return res.json({ ok: true })
      }
      const now = await req.loginguard.failure()
      res.status(401).json({ error: 'invalid_credentials', action: now.action })
    },
  )
  const server = app.listen(0, '127.0.0.1')
  t.after(() => new Promise((r) => server.close(r)))
  const base = await listening(server)
  await seedStory((fields) => post(`${base}/login`, fields), guard)
})

test('Fastify on a redis AsyncGuard', opts, async (t) => {
  const guard = await redisGuard()
  const app = Fastify()
  t.after(() => app.close())
  await app.register(fastifyLoginguard, { guard, verifyCaptcha: (request) => request.body.captcha === 'solved' })
  app.post('/login', { preHandler: app.loginguard }, async (request, reply) => {
    if (USERS[request.loginguard.account] === request.body.password) {
      await request.loginguard.success()
      return { ok: true }
    }
    const now = await request.loginguard.failure()
    return reply.code(401).send({ error: 'invalid_credentials', action: now.action })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${app.server.address().port}`
  await seedStory((fields) => post(`${base}/login`, fields), guard)
})

test('Passport on a redis AsyncGuard', opts, async (t) => {
  const guard = await redisGuard()
  const passport = new Passport()
  passport.use(
    guardStrategy(
      new LocalStrategy((username, password, done) => done(null, USERS[username] === password ? { name: username } : false)),
      { guard, verifyCaptcha: (req) => req.body.captcha === 'solved' },
    ),
  )
  const app = express()
  app.use(express.json(), passport.initialize())
  app.post('/login', (req, res, next) =>
    passport.authenticate('local', { session: false }, (err, user, info, status) => {
      if (err) return next(err)
      if (!user) return res.status(status ?? 401).json(info ?? {})
      res.json({ user: user.name })
    })(req, res, next),
  )
  const server = app.listen(0, '127.0.0.1')
  t.after(() => new Promise((r) => server.close(r)))
  const base = await listening(server)
  await seedStory((fields) => post(`${base}/login`, fields), guard)
})
