'use strict'
// Express integration: a middleware for the login route. It asks the guard
// (`begin`) before the password is checked and answers refusals itself; the
// route reports the outcome with req.loginguard.success() / .failure().

const { beginLogin, clientAddress, loginOptions, refusalBody, retryAfterHeader } = require('./lib/login.js')

const NO_IP = { source: 'req.ip', cure: "set Express's 'trust proxy' to the proxy hop" }

// A 400 for an attempt that cannot be keyed: JSON for clients that take it, else short text.
function invalidAttempt(req, res, message) {
  if (req.accepts(['json', 'text']) === 'json') {
    res.status(400).json({ error: 'invalid_login_attempt', message })
  } else {
    res.status(400).type('text/plain').send(message)
  }
}

/**
 * @param {import('./express').LoginGuardOptions} options
 * @returns {import('express').RequestHandler}
 */
function loginguard(options) {
  const config = loginOptions(options, 'loginguard/express')

  // The account to key: the application's (`account`) or the body field, as given. Anything
  // but a string is refused; a throw is the application's error and goes to next(err).
  async function accountOf(req) {
    return config.account ? await config.account(req) : req.body?.[config.accountField]
  }

  return async function loginguardMiddleware(req, res, next) {
    // Mounted twice on one route (app.use('/login', ...) and the route itself): one begin,
    // else each attempt would count twice and a success leave one on the network.
    if (req.loginguard != null) return next()
    try {
      // The address first: a deployment that gives none is refused on every attempt.
      const ip = clientAddress(config, req, req.ip, NO_IP)
      const outcome = await beginLogin(config, {
        account: await accountOf(req),
        ip,
        req,
        cookieHeader: req.headers.cookie,
      })
      if (outcome.invalid) return invalidAttempt(req, res, outcome.invalid)
      if (outcome.refused) {
        const { status, body, retryAfterMs } = outcome.refused
        if (retryAfterMs !== null) res.setHeader('Retry-After', retryAfterHeader(retryAfterMs))
        return res.status(status).json(body)
      }
      const { login } = outcome
      req.loginguard = {
        decision: login.decision,
        account: login.account,
        failure: () => login.failure(),
        // On an AsyncGuard (redis) both return Promises: await them.
        success() {
          const { cookie, recorded } = login.success(req.secure)
          if (cookie !== undefined) res.append('Set-Cookie', cookie)
          return recorded
        },
      }
      next()
    } catch (err) {
      next(err)
    }
  }
}

module.exports = loginguard
module.exports.loginguard = loginguard
module.exports.default = loginguard
module.exports.refusalBody = refusalBody
