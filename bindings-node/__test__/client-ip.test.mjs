// Apps listening on a unix socket (behind a proxy such as nginx), where the framework knows
// no client address: every integration refuses the attempt (ERR_LOGINGUARD_NO_CLIENT_IP)
// rather than count it on the account alone; the `clientIp` option supplies the address.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'

const require = createRequire(import.meta.url)
const express = require('express')
const Fastify = require('fastify')
const { Passport } = require('passport')
const { Strategy: LocalStrategy } = require('passport-local')
const { Guard } = require('../loginguard.js')
const loginguard = require('../express.js')
const fastifyLoginguard = require('../fastify.js')
const guardStrategy = require('../passport.js')
const { loginOptions } = require('../lib/login.js')

const CODE = 'ERR_LOGINGUARD_NO_CLIENT_IP'
const PROXY = '203.0.113.7'
// A test-only choice: the address a proxy put in X-Forwarded-For, trusted blindly.
const fromHeader = (req) => req.headers['x-forwarded-for']

function socketPath(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loginguard-sock-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 'app.sock')
}

// A POST of a JSON body over the unix socket, as nginx would forward it.
function post(socket, url, fields, headers = {}) {
  const body = JSON.stringify(fields)
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, path: url, method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': PROXY, ...headers } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (text += chunk))
        res.on('end', () => {
          const json = (res.headers['content-type'] ?? '').startsWith('application/json')
          resolve({ status: res.statusCode, body: json ? JSON.parse(text) : text })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

function failures(guard, attempt) {
  return Object.fromEntries(guard.inspect(attempt).dimensions.map((d) => [d.dimension, d.failures]))
}

function listen(t, app, socket) {
  return new Promise((resolve) => {
    const server = app.listen(socket, () => resolve(server))
    t.after(() => new Promise((r) => server.close(r)))
  })
}

const errorHandler = (err, req, res, _next) => res.status(500).json({ code: err.code, message: err.message })

async function expressApp(t, options = {}) {
  const guard = new Guard({ manualClock: true })
  const app = express()
  app.set('trust proxy', 'loopback') // trusts no hop on a unix socket: req.ip is undefined
  app.post('/login', express.json(), loginguard({ guard, ...options }), (req, res) => {
    req.loginguard.failure()
    res.status(401).json({ error: 'invalid_credentials' })
  })
  app.use(errorHandler)
  const socket = socketPath(t)
  await listen(t, app, socket)
  return { guard, socket }
}

test('Express on a unix socket: an attempt without a client IP is refused, counting nothing', async (t) => {
  const { guard, socket } = await expressApp(t)
  const res = await post(socket, '/login', { username: 'alice', password: 'guess' })
  assert.equal(res.status, 500)
  assert.equal(res.body.code, CODE)
  assert.equal(
    res.body.message,
    "req.ip is undefined (a unix socket?): set Express's 'trust proxy' to the proxy hop, or pass the clientIp option",
  )
  assert.equal(guard.stats().occupancy, 0)
})

test('Express on a unix socket: clientIp supplies the address, and the attempt counts on it', async (t) => {
  const { guard, socket } = await expressApp(t, { clientIp: fromHeader })
  const res = await post(socket, '/login', { username: 'alice', password: 'guess' })
  assert.equal(res.status, 401)
  assert.deepEqual(failures(guard, { account: 'alice', ip: PROXY }), { account: 1, account_ip: 1, ip: 1, ip_range: 1 })
})

test('Express: a clientIp returning no address is refused, counting nothing', async (t) => {
  for (const clientIp of [() => undefined, () => '', () => 7]) {
    const { guard, socket } = await expressApp(t, { clientIp })
    const res = await post(socket, '/login', { username: 'alice', password: 'guess' })
    assert.equal(res.status, 500)
    assert.equal(res.body.code, CODE)
    assert.match(res.body.message, /clientIp/)
    assert.equal(guard.stats().occupancy, 0)
  }
})

test('the clientIp option must be a function', () => {
  const guard = new Guard()
  for (const [factory, entry] of [
    [(o) => loginguard(o), 'express'],
    [(o) => loginOptions(o, 'loginguard/fastify'), 'fastify'],
    [(o) => guardStrategy(new LocalStrategy(() => {}), o), 'passport'],
  ]) {
    assert.throws(() => factory({ guard, clientIp: '127.0.0.1' }), { code: 'ERR_LOGINGUARD_TYPE', message: /clientIp must be a function/ }, entry)
  }
})

async function fastifyApp(t, options = {}) {
  const guard = new Guard({ manualClock: true })
  const app = Fastify({ trustProxy: '127.0.0.1' })
  await app.register(fastifyLoginguard, { guard, ...options })
  app.post('/login', { preHandler: app.loginguard }, async (request, reply) => {
    request.loginguard.failure()
    return reply.code(401).send({ error: 'invalid_credentials' })
  })
  app.setErrorHandler((err, request, reply) => reply.code(500).send({ code: err.code, message: err.message }))
  const socket = socketPath(t)
  await app.listen({ path: socket })
  t.after(() => app.close())
  return { guard, socket }
}

test('Fastify on a unix socket: no client IP is refused; clientIp supplies it', async (t) => {
  const refused = await fastifyApp(t)
  const res = await post(refused.socket, '/login', { username: 'alice', password: 'guess' })
  assert.equal(res.status, 500)
  assert.equal(res.body.code, CODE)
  assert.match(res.body.message, /^request\.ip is undefined \(a unix socket\?\): .*trustProxy.*clientIp option$/)
  assert.equal(refused.guard.stats().occupancy, 0)

  const keyed = await fastifyApp(t, { clientIp: fromHeader })
  assert.equal((await post(keyed.socket, '/login', { username: 'alice', password: 'guess' })).status, 401)
  assert.deepEqual(failures(keyed.guard, { account: 'alice', ip: PROXY }), { account: 1, account_ip: 1, ip: 1, ip_range: 1 })
})

async function passportApp(t, options = {}) {
  const guard = new Guard({ manualClock: true })
  const verified = { calls: 0 }
  const passport = new Passport()
  const verify = (username, password, done) => {
    verified.calls++
    done(null, false, { message: 'Incorrect username or password.' })
  }
  passport.use(guardStrategy(new LocalStrategy(verify), { guard, ...options }))
  const app = express()
  app.set('trust proxy', 'loopback')
  app.use(express.json(), passport.initialize())
  app.post('/login', passport.authenticate('local', { session: false }), (req, res) => res.json({ ok: true }))
  app.use(errorHandler)
  const socket = socketPath(t)
  await listen(t, app, socket)
  return { guard, verified, socket }
}

test('Passport on a unix socket: no client IP is Passport error, before verify; clientIp supplies it', async (t) => {
  const refused = await passportApp(t)
  const res = await post(refused.socket, '/login', { username: 'alice', password: 'guess' })
  assert.equal(res.status, 500)
  assert.equal(res.body.code, CODE)
  assert.match(res.body.message, /^req\.ip is undefined \(a unix socket\?\)/)
  assert.equal(refused.verified.calls, 0)
  assert.equal(refused.guard.stats().occupancy, 0)

  const keyed = await passportApp(t, { clientIp: fromHeader })
  assert.equal((await post(keyed.socket, '/login', { username: 'alice', password: 'guess' })).status, 401)
  assert.equal(keyed.verified.calls, 1)
  assert.deepEqual(failures(keyed.guard, { account: 'alice', ip: PROXY }), { account: 1, account_ip: 1, ip: 1, ip_range: 1 })
})
