// Type-checked by `tsc --noEmit` in `make test-node`: Fastify, Passport and Prometheus as an application wires them.
import Fastify from 'fastify'
import express from 'express'
import passport from 'passport'
import { Strategy as LocalStrategy } from 'passport-local'
import { Registry } from 'prom-client'
import { Guard, type Decision, type GuardEvent } from 'loginguard'
import loginguardFastify, { type LoginGuardRequest } from 'loginguard/fastify'
import guardStrategy, { type RefusalInfo } from 'loginguard/passport'
import registerGuardMetrics from 'loginguard/metrics'

const guard = new Guard({ policy: '[account]\nchallenge_after = 3\n' })
const passwords = new Map<string, string>([['alice', 'correct horse']])
const hashes = new Map<string, string>([['alice', 'argon2id$...']])

// Fastify: the plugin, then its preHandler on the login route (or `config: { loginguard: true }`).
const app = Fastify({ logger: true })
async function serve(): Promise<void> {
  // Awaited, so that `app.loginguard` exists when the route names it.
  await app.register(loginguardFastify, {
    guard,
    account: (request) => {
      const body = request.body as { username?: unknown }
      return typeof body.username === 'string' ? body.username.trim().toLowerCase() : undefined
    },
    verifyCaptcha: async (request, { signal }) => {
      const res = await fetch('https://captcha.example/verify', { method: 'POST', body: String((request.body as { captcha?: string }).captcha), signal })
      return res.ok
    },
    captchaTimeoutMs: 5000,
    deviceCookie: { secret: 'change me', maxAgeMs: 30 * 24 * 3600 * 1000, accountSecret: (account) => hashes.get(account) },
    passwordResetUrl: '/password-reset',
  })
  app.post<{ Body: { password: string } }>('/login', { preHandler: app.loginguard }, async (request, reply) => {
    const login: LoginGuardRequest | null = request.loginguard
    if (login === null) throw new Error('the route is guarded')
    if (passwords.get(login.account) === request.body.password) {
      login.success()
      return { ok: true }
    }
    const now: Decision = login.failure()
    return reply.code(401).send({ error: 'invalid_credentials', action: now.action })
  })
  app.post('/api/login', { config: { loginguard: true } }, async (request) => ({ account: request.loginguard?.account }))
  await app.listen({ port: 3000 })
}
void serve()

// Passport: every passport.authenticate('local') goes through the guard.
passport.use(
  guardStrategy(
    new LocalStrategy((username, password, done) => {
      done(null, passwords.get(username) === password ? { name: username } : false)
    }),
    { guard, account: (req, username) => (typeof username === 'string' ? username.toLowerCase() : undefined) },
  ),
)
const web = express()
web.post('/login', express.urlencoded({ extended: false }), (req, res, next) =>
  passport.authenticate('local', { session: false }, (err: unknown, user: unknown, info?: RefusalInfo, status?: number) => {
    if (err) return next(err)
    if (!user) return res.status(status ?? 401).json({ message: info?.message, retryAfterMs: info?.retryAfterMs })
    res.json({ ok: true })
  })(req, res, next),
)

// Prometheus: scrape `register.metrics()`; guard events to logs.
const register = new Registry()
const metrics = registerGuardMetrics(guard, { register, prefix: 'login_', events: true })
console.log(Object.keys(metrics))
// Fastify's logger is pino: one structured line per lock, challenge or reset.
guard.on('event', (event: GuardEvent) => {
  app.log.warn({ loginguard: event }, `loginguard ${event.kind} on ${event.dimension ?? 'all dimensions'}`)
})
web.get('/metrics', async (_req, res) => {
  res.type(register.contentType).send(await register.metrics())
})
