'use strict'
// Fastify integration: a plugin that gives the instance `fastify.loginguard`, a preHandler
// for the login route (or `config: { loginguard: true }` on the route). It asks the guard
// (`begin`) before the handler checks the password and answers refusals itself; the
// handler reports the outcome with request.loginguard.success() / .failure().

const { beginLogin, clientAddress, loginOptions, retryAfterHeader } = require('./lib/login.js')

const NO_IP = { source: 'request.ip', cure: "set Fastify's trustProxy to the proxy hop" }

// Whether the client takes JSON, as Express's `req.accepts(['json', 'text'])` decides it:
// JSON without an Accept header or when ranked at least as high as text.
function takesJson(accept) {
  if (typeof accept !== 'string' || accept.trim() === '') return true
  let json = 0
  let text = 0
  for (const entry of accept.toLowerCase().split(',')) {
    const [type, ...params] = entry.split(';').map((s) => s.trim())
    const weight = params.find((p) => p.startsWith('q='))
    const q = weight === undefined ? 1 : Number(weight.slice(2))
    if (!(q >= 0 && q <= 1)) continue
    if (type === 'application/json' || type === 'application/*' || type === '*/*') json = Math.max(json, q)
    if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q)
  }
  return json > 0 && json >= text
}

/**
 * @param {import('fastify').FastifyInstance} fastify
 * @param {import('./fastify').LoginGuardOptions} options
 */
async function loginguard(fastify, options) {
  const config = loginOptions(options, 'loginguard/fastify', {
    body: 'request.body',
    accountSignature: '(request) => string | Promise<string>',
    clientIpSignature: '(request) => string',
  })

  // The account to key: the application's (`account`) or the body field, as given. Anything
  // but a string is refused; a throw is the application's error (Fastify's error handler).
  async function accountOf(request) {
    return config.account ? await config.account(request) : request.body?.[config.accountField]
  }

  async function loginguardPreHandler(request, reply) {
    if (request.loginguard !== null) return // guarded twice (config and preHandler): one begin
    // The address first: a deployment that gives none is refused on every attempt.
    const ip = clientAddress(config, request, request.ip, NO_IP)
    const outcome = await beginLogin(config, {
      account: await accountOf(request),
      ip,
      req: request,
      cookieHeader: request.headers.cookie,
    })
    if (outcome.invalid) {
      reply.code(400)
      if (takesJson(request.headers.accept)) {
        return reply.send({ error: 'invalid_login_attempt', message: outcome.invalid })
      }
      return reply.type('text/plain; charset=utf-8').send(outcome.invalid)
    }
    if (outcome.refused) {
      const { status, body, retryAfterMs } = outcome.refused
      if (retryAfterMs !== null) reply.header('retry-after', retryAfterHeader(retryAfterMs))
      return reply.code(status).send(body)
    }
    const { login } = outcome
    request.loginguard = {
      decision: login.decision,
      account: login.account,
      failure: () => login.failure(),
      // On an AsyncGuard (redis) both return Promises: await them.
      success() {
        const { cookie, recorded } = login.success(request.protocol === 'https')
        if (cookie !== undefined) reply.header('set-cookie', cookie)
        return recorded
      },
    }
  }

  fastify.decorateRequest('loginguard', null)
  fastify.decorate('loginguard', loginguardPreHandler)
  // Routes declared with `config: { loginguard: true }`, even before the plugin has loaded.
  fastify.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.config?.loginguard === true) return loginguardPreHandler(request, reply)
  })
}

// What fastify-plugin would set: the decorations and hook reach the registering
// context (no encapsulation), and Fastify checks its version and the plugin's name.
loginguard[Symbol.for('skip-override')] = true
loginguard[Symbol.for('fastify.display-name')] = 'loginguard'
loginguard[Symbol.for('plugin-meta')] = { name: 'loginguard', fastify: '5.x' }

module.exports = loginguard
module.exports.loginguard = loginguard
module.exports.default = loginguard
