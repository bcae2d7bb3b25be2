'use strict'
// The login flow every framework integration shares: the options, the account check,
// `begin` with the CAPTCHA step under its deadline, the answer to each refusal, and
// what the route reports afterwards. The integrations only read the request and write
// the response; every decision is the engine's.

const { AsyncGuard, Guard } = require('../loginguard.js')

const KEYS_ACCOUNT = Symbol.for('loginguard.keysAccount')
const {
  COOKIE_NAME,
  DEFAULT_COOKIE_MAX_AGE_MS,
  DEFAULT_COOKIE_NAME,
  credentialOf,
  deviceCookieHeader,
  readCookie,
  verifiedDevice,
} = require('./device-cookie.js')

const DEFAULT_CAPTCHA_TIMEOUT_MS = 10_000
const MAX_TIMER_MS = 2 ** 31 - 1 // setTimeout's limit

const NO_ACCOUNT = 'Invalid login attempt: no account name given as text.'
const ACCOUNT_REFUSED = 'Invalid login attempt: the account name is empty or too long.'
const UNUSABLE = 'Invalid login attempt.'

// What the CAPTCHA step says while the site-wide signal challenges everyone (reason `site`).
const SITE_CHALLENGE_MESSAGE = 'We are seeing unusual login activity, please complete the CAPTCHA.'

// What a refused user reads: why (network or account), and what to do.
const WHERE = {
  account: 'for this account',
  account_ip: 'for this account from your network',
  ip: 'from your network',
  ip_range: 'from your network',
  device: 'for this account on this device',
}

function configError(message) {
  const err = new TypeError(message)
  err.code = 'ERR_LOGINGUARD_TYPE'
  return err
}

function noClientIpError(message) {
  const err = new Error(message)
  err.code = 'ERR_LOGINGUARD_NO_CLIENT_IP'
  return err
}

function isPositiveNumber(value) {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
}

/**
 * The options every integration takes, checked; `entry` names the module in errors,
 * `body` the request's parsed body, `accountSignature` the `account` option's type.
 */
function loginOptions(
  options,
  entry,
  { body = 'req.body', accountSignature = '(req) => string | Promise<string>', clientIpSignature = '(req) => string' } = {},
) {
  if (options === null || typeof options !== 'object' || !(options.guard instanceof Guard || options.guard instanceof AsyncGuard)) {
    throw configError(`${entry} needs { guard } with a Guard or an AsyncGuard from require("loginguard")`)
  }
  const {
    guard,
    accountField = 'username',
    account,
    verifyCaptcha,
    captchaTimeoutMs = DEFAULT_CAPTCHA_TIMEOUT_MS,
    deviceCookie,
    passwordResetUrl,
    clientIp,
  } = options
  if (typeof accountField !== 'string' || accountField === '') {
    throw configError(`accountField must be the name of a ${body} field`)
  }
  if (account !== undefined && typeof account !== 'function') {
    throw configError(`account must be a function ${accountSignature}`)
  }
  if (clientIp !== undefined && typeof clientIp !== 'function') {
    throw configError(`clientIp must be a function ${clientIpSignature} returning the client's address`)
  }
  if (verifyCaptcha !== undefined && typeof verifyCaptcha !== 'function') {
    throw configError('verifyCaptcha must be a function (req) => boolean | Promise<boolean>')
  }
  if (!isPositiveNumber(captchaTimeoutMs) || captchaTimeoutMs > MAX_TIMER_MS) {
    throw configError(`captchaTimeoutMs must be a positive number of milliseconds, at most ${MAX_TIMER_MS}`)
  }
  if (deviceCookie !== undefined) {
    if (deviceCookie === null || typeof deviceCookie !== 'object' || !deviceCookie.secret) {
      throw configError('deviceCookie needs a secret')
    }
    if (typeof deviceCookie.secret !== 'string' && !(deviceCookie.secret instanceof Uint8Array)) {
      throw configError('deviceCookie.secret must be a string or a Buffer')
    }
    if (deviceCookie.name !== undefined && (typeof deviceCookie.name !== 'string' || !COOKIE_NAME.test(deviceCookie.name))) {
      throw configError('deviceCookie.name must be a cookie name')
    }
    if (deviceCookie.maxAgeMs !== undefined && !isPositiveNumber(deviceCookie.maxAgeMs)) {
      throw configError('deviceCookie.maxAgeMs must be a positive number of milliseconds')
    }
    for (const fn of ['accountSecret', 'now']) {
      if (deviceCookie[fn] !== undefined && typeof deviceCookie[fn] !== 'function') {
        throw configError(`deviceCookie.${fn} must be a function`)
      }
    }
  }
  return {
    guard,
    accountField,
    account,
    clientIp,
    verifyCaptcha,
    captchaTimeoutMs,
    passwordResetUrl,
    deviceCookie: deviceCookie && {
      secret: deviceCookie.secret,
      name: deviceCookie.name ?? DEFAULT_COOKIE_NAME,
      maxAgeMs: deviceCookie.maxAgeMs ?? DEFAULT_COOKIE_MAX_AGE_MS,
      accountSecret: deviceCookie.accountSecret,
      now: deviceCookie.now ?? Date.now,
    },
  }
}

function describe(value) {
  if (value === '') return 'empty'
  if (value === null || value === undefined) return String(value)
  return `a ${typeof value}`
}

/**
 * The client's address to key the attempt on: `config.clientIp(req)` when the application
 * gives one, else `builtin` (the framework's, e.g. `req.ip`). Anything but a non-empty
 * string throws ERR_LOGINGUARD_NO_CLIENT_IP, counting nothing: an attempt is never keyed
 * on the account alone. `source` names the framework's value and `cure` its setting.
 */
function clientAddress(config, req, builtin, { source, cure }) {
  if (config.clientIp) {
    const ip = config.clientIp(req)
    if (typeof ip === 'string' && ip !== '') return ip
    throw noClientIpError(`the clientIp option returned ${describe(ip)}: it must return the client's address as a non-empty string`)
  }
  const ip = builtin
  if (typeof ip === 'string' && ip !== '') return ip
  throw noClientIpError(`${source} is ${describe(ip)} (a unix socket?): ${cure}, or pass the clientIp option`)
}

// Whether the core keys this account (not empty once normalized, not over-long), asked
// without touching a counter (nor Redis), so that no attempt falls back to the network alone.
function keyable(guard, account) {
  return guard[KEYS_ACCOUNT](account)
}

// `verifyCaptcha(req, { signal })` under one deadline: past it, or on a throw or
// rejection, it failed (and `signal` aborts).
async function captchaPassed(verifyCaptcha, timeoutMs, req) {
  if (verifyCaptcha === undefined) return false
  const controller = new AbortController()
  let timer
  const expired = new Promise((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`CAPTCHA verification took over ${timeoutMs} ms`))
      resolve(false)
    }, timeoutMs)
  })
  try {
    const verdict = Promise.resolve().then(() => verifyCaptcha(req, { signal: controller.signal }))
    return (await Promise.race([verdict, expired])) === true
  } catch {
    return false // a verifier that fails, fails closed
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The answer to a decision that does not let the password be checked:
 * `{ status, body, retryAfterMs }`, or null when it may be checked.
 */
function refusal(decision, challengePassed, passwordResetUrl) {
  switch (decision.action) {
    case 'allow':
      return null
    case 'challenge':
      if (challengePassed) return null
      return {
        status: 403,
        body: {
          error: 'challenge_required',
          reason: decision.reason,
          message: decision.reason === 'site' ? SITE_CHALLENGE_MESSAGE : 'Complete the CAPTCHA to log in.',
        },
        retryAfterMs: null,
      }
    case 'deny': {
      if (decision.reason === 'denylist') {
        return {
          status: 403,
          body: { error: 'forbidden', reason: 'denylist', message: 'Logins from your network are not allowed.' },
          retryAfterMs: null,
        }
      }
      const seconds = Math.ceil(decision.retryAfterMs / 1000)
      return {
        status: 429,
        body: {
          error: 'too_many_attempts',
          reason: decision.reason,
          retryAfterSeconds: seconds,
          message: `Too many failed logins ${WHERE[decision.reason]}. Try again in ${seconds} s.`,
        },
        retryAfterMs: decision.retryAfterMs,
      }
    }
    default:
      return {
        status: 403,
        body: {
          error: 'password_reset_required',
          reason: decision.reason,
          message: 'Too many failed logins: reset your password to log in again.',
          ...(passwordResetUrl ? { resetUrl: passwordResetUrl } : {}),
        },
        retryAfterMs: null,
      }
  }
}

/** The actions a guard decides; `refusal` answers each of them. */
const DECISION_ACTIONS = new Set(['allow', 'challenge', 'deny', 'reset_required'])

/**
 * The JSON body the login middleware answers `decision` with when it refuses, the CAPTCHA
 * not passed: the next step to show after a failed password, in the middleware's words.
 * Null when the password may be checked (`allow`).
 */
function refusalBody(decision, options) {
  if (decision === null || typeof decision !== 'object') {
    throw configError('refusalBody(decision) takes a decision from the guard')
  }
  if (!DECISION_ACTIONS.has(decision.action)) {
    throw configError(
      typeof decision.then === 'function'
        ? "refusalBody(decision) takes a decision, not a Promise: await an AsyncGuard's call first"
        : `refusalBody(decision): unknown action ${JSON.stringify(decision.action)}`,
    )
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw configError('options must be an object like { passwordResetUrl }')
  }
  return refusal(decision, false, options?.passwordResetUrl)?.body ?? null
}

function retryAfterHeader(retryAfterMs) {
  return String(Math.ceil(retryAfterMs / 1000))
}

/**
 * One login attempt up to the password check. `account` is what the integration read
 * (anything but a string is refused), `req` is handed to `verifyCaptcha`, `cookieHeader`
 * is the request's Cookie header. Resolves to one of
 * - `{ invalid: message }`: a 400 that counted nothing;
 * - `{ refused: { status, body, retryAfterMs }, decision }`: the password must not be checked;
 * - `{ login }`: go on; `login` is `{ decision, account, failure(), success(secure) }`, where
 *   `success` returns the device cookie's Set-Cookie value, if one is to be sent.
 * Rejects with the application's own errors (`accountSecret`), counting nothing before `begin`.
 */
async function beginLogin(config, { account, ip, req, cookieHeader }) {
  const { guard, deviceCookie } = config
  if (typeof account !== 'string') return { invalid: NO_ACCOUNT }
  if (!keyable(guard, account)) return { invalid: ACCOUNT_REFUSED }
  let credential // looked up once, when a cookie is to be checked or may be issued
  const credentialFor = async () => {
    if (credential === undefined) credential = await credentialOf(deviceCookie.accountSecret, account)
    return credential
  }
  let device
  const cookie = deviceCookie ? readCookie(cookieHeader, deviceCookie.name) : undefined
  if (cookie !== undefined && (await credentialFor()) !== null) {
    device = verifiedDevice(deviceCookie.secret, cookie, account, credential, deviceCookie.now(), deviceCookie.maxAgeMs)
  }
  const attempt = { account, ip, device }
  let decision
  try {
    // A Decision from a Guard, a Promise of one from an AsyncGuard (the redis store).
    decision = await guard.begin(attempt)
    let passed = false
    if (decision.action === 'challenge') {
      passed = await captchaPassed(config.verifyCaptcha, config.captchaTimeoutMs, req)
      if (passed) decision = await guard.begin({ ...attempt, challengePassed: true })
    }
    const refused = refusal(decision, passed, config.passwordResetUrl)
    if (refused !== null) return { refused, decision }
  } catch (err) {
    if (err.code === 'ERR_LOGINGUARD_INVALID_ATTEMPT' || err.code === 'ERR_LOGINGUARD_INVALID_IP') {
      return { invalid: UNUSABLE }
    }
    throw err
  }
  // A rejection here leaves begin's failure recorded: the password was never checked.
  if (deviceCookie) await credentialFor()
  let settled = false
  return {
    login: {
      decision,
      account,
      // On an AsyncGuard: a Promise of the decision.
      failure() {
        // `begin` recorded this failure in advance; nothing more to record.
        settled = true
        return guard.check(attempt)
      },
      // `recorded`: undefined on a Guard, the Promise of the recording on an AsyncGuard.
      success(secure) {
        if (settled) return { cookie: undefined, recorded: undefined }
        settled = true
        const recorded = guard.recordSuccess({ ...attempt, afterBegin: true })
        if (!deviceCookie || credential === null) return { cookie: undefined, recorded }
        return { cookie: deviceCookieHeader(deviceCookie, account, device, credential, deviceCookie.now(), secure), recorded }
      },
    },
  }
}

module.exports = {
  beginLogin,
  captchaPassed,
  clientAddress,
  configError,
  keyable,
  loginOptions,
  refusal,
  refusalBody,
  retryAfterHeader,
  ACCOUNT_REFUSED,
  NO_ACCOUNT,
  UNUSABLE,
}
