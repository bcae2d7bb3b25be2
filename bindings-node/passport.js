'use strict'
// Passport integration: wraps a strategy whose verify callback is given the account, such
// as passport-local's `verify(username, password, done)`, so that every
// passport.authenticate() through it is guarded, whichever route calls it. `begin` runs
// before the verify callback checks the password; a refusal fails the authentication with
// the reason; a verified user records the success.

const { beginLogin, clientAddress, configError, loginOptions, retryAfterHeader } = require('./lib/login.js')

const NO_IP = { source: 'req.ip', cure: "set Express's 'trust proxy' to the proxy hop" }

// The client's address: Express's `req.ip` (its `trust proxy` setting decides), else the
// socket's; the `clientIp` option instead when given; none at all is refused.
function clientIp(config, req) {
  return clientAddress(config, req, req.ip ?? req.socket?.remoteAddress, NO_IP)
}

/**
 * @template S
 * @param {S} strategy
 * @param {import('./passport').GuardStrategyOptions} options
 * @returns {S}
 */
function guardStrategy(strategy, options) {
  if (strategy === null || typeof strategy !== 'object' || typeof strategy.authenticate !== 'function' || typeof strategy._verify !== 'function') {
    throw configError('loginguard/passport wraps a Passport strategy with a verify callback, e.g. new LocalStrategy(verify)')
  }
  if (options !== null && typeof options === 'object' && (options.accountField !== undefined || options.deviceCookie !== undefined)) {
    throw configError('loginguard/passport takes the account from the strategy (the account option reshapes it) and issues no device cookies')
  }
  const config = loginOptions(options, 'loginguard/passport', {
    accountSignature: '(req, username) => string | Promise<string>',
  })
  const authenticate = strategy.authenticate
  const verify = strategy._verify

  // The login to go on with, or null when the authentication was failed here (`action.fail`).
  async function guardedLogin(action, req, username) {
    const ip = clientIp(config, req)
    const account = config.account ? await config.account(req, username) : username
    const outcome = await beginLogin(config, { account, ip, req })
    if (outcome.invalid) {
      action.fail({ error: 'invalid_login_attempt', message: outcome.invalid, retryAfterMs: null }, 400)
      return null
    }
    if (outcome.refused) {
      const { status, body, retryAfterMs } = outcome.refused
      const res = req.res
      if (retryAfterMs !== null && res && !res.headersSent) res.setHeader('Retry-After', retryAfterHeader(retryAfterMs))
      action.fail({ ...body, retryAfterMs }, status)
      return null
    }
    return outcome.login
  }

  const guarded = Object.create(strategy)
  guarded.authenticate = function guardedAuthenticate(req, authOptions) {
    // `this` is Passport's strategy for this request, with success(), fail() and error().
    const action = this
    const inner = Object.create(action)
    // The strategy calls its verify callback once it has read the credentials.
    inner._verify = function guardedVerify(...args) {
      const done = args.pop()
      const username = args[0] === req ? args[1] : args[0]
      guardedLogin(action, req, username).then(
        (login) => {
          if (login === null) return
          args.push((err, user, info) => {
            // A failure was recorded by `begin`: only a success is recorded here
            // (awaited on an AsyncGuard, whose recording is a Promise).
            const recorded = !err && user ? login.success(false).recorded : undefined
            if (recorded === undefined) return done(err, user, info)
            recorded.then(() => done(err, user, info), (e) => action.error(e))
          })
          try {
            verify.apply(this, args)
          } catch (err) {
            action.error(err)
          }
        },
        (err) => action.error(err),
      )
    }
    return authenticate.call(inner, req, authOptions)
  }
  return guarded
}

module.exports = guardStrategy
module.exports.guardStrategy = guardStrategy
module.exports.default = guardStrategy
