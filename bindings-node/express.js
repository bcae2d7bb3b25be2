'use strict'
// Express integration: a middleware for the login route. It asks the guard
// (`begin`) before the password is checked and answers refusals itself; the
// route reports the outcome with req.loginguard.success() / .failure().

const { createHmac, randomBytes, timingSafeEqual } = require('node:crypto')
const { Guard } = require('./loginguard.js')

const DEVICE_ID_BYTES = 16
const DAY_MS = 24 * 3600 * 1000
const DEFAULT_COOKIE_MAX_AGE_MS = 90 * DAY_MS
const DEFAULT_CAPTCHA_TIMEOUT_MS = 10_000
const MAX_TIMER_MS = 2 ** 31 - 1 // setTimeout's limit
// Servers' clocks differ a little: a cookie issued up to this far "in the future" is still honoured.
const CLOCK_SKEW_MS = 60_000
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const DEVICE_COOKIE = /^([\w-]{1,64})\.(\d{1,16})\.([\w-]{43})$/

function configError(message) {
  const err = new TypeError(message)
  err.code = 'ERR_LOGINGUARD_TYPE'
  return err
}

function isPositiveNumber(value) {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
}

function readCookie(header, name) {
  if (typeof header !== 'string') return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

// A device cookie is `<device id>.<issue time, ms>.<HMAC-SHA256>` over the account, the
// id, the issue time and the account's credential (from `accountSecret`, or nothing):
// it proves that this browser logged in to this account, when, and under which password.
// Each field is length-prefixed so that no two field lists sign alike.
function sign(secret, account, deviceId, issuedMs, credential) {
  const mac = createHmac('sha256', secret).update('loginguard-device-v2')
  for (const field of [Buffer.from(account), Buffer.from(deviceId), Buffer.from(String(issuedMs)), credential]) {
    mac.update(`\0${field.length}\0`).update(field)
  }
  return mac.digest('base64url')
}

// The device id of a cookie issued to `account` under `credential` less than `maxAgeMs`
// ago; undefined for anything else (another account, tampered, expired, older format).
function verifiedDevice(secret, value, account, credential, nowMs, maxAgeMs) {
  const parts = typeof value === 'string' ? DEVICE_COOKIE.exec(value) : null
  if (parts === null) return undefined
  const [, deviceId, issued, given] = parts
  const expected = Buffer.from(sign(secret, account, deviceId, issued, credential))
  if (!timingSafeEqual(Buffer.from(given), expected)) return undefined
  const age = nowMs - Number(issued)
  return age < maxAgeMs && age >= -CLOCK_SKEW_MS ? deviceId : undefined
}

// The account's credential for device cookies: empty without `accountSecret`, null when
// the application names none (no device is trusted for that account, none is issued).
async function credentialOf(accountSecret, account) {
  if (accountSecret === undefined) return Buffer.alloc(0)
  const value = await accountSecret(account)
  if (typeof value === 'string' && value !== '') return Buffer.from(value)
  if (value instanceof Uint8Array && value.length > 0) return Buffer.from(value)
  return null
}

// A 400 for an attempt that cannot be keyed: JSON for clients that take it, else short text.
function invalidAttempt(req, res, message) {
  if (req.accepts(['json', 'text']) === 'json') {
    res.status(400).json({ error: 'invalid_login_attempt', message })
  } else {
    res.status(400).type('text/plain').send(message)
  }
}

const NO_ACCOUNT = 'Invalid login attempt: no account name given as text.'
const ACCOUNT_REFUSED = 'Invalid login attempt: the account name is empty or too long.'
const UNUSABLE = 'Invalid login attempt.'

// What a refused user reads: why (network or account), and what to do.
const WHERE = {
  account: 'for this account',
  account_ip: 'for this account from your network',
  ip: 'from your network',
  device: 'for this account on this device',
}

function refuse(res, status, body, retryAfterMs) {
  if (retryAfterMs !== null && retryAfterMs !== undefined) {
    res.setHeader('Retry-After', String(Math.ceil(retryAfterMs / 1000)))
  }
  res.status(status).json(body)
}

/**
 * @param {import('./express').LoginGuardOptions} options
 * @returns {import('express').RequestHandler}
 */
function loginguard(options) {
  if (options === null || typeof options !== 'object' || !(options.guard instanceof Guard)) {
    throw configError('loginguard/express needs { guard } with a Guard from require("loginguard")')
  }
  const {
    guard,
    accountField = 'username',
    account: accountOption,
    verifyCaptcha,
    captchaTimeoutMs = DEFAULT_CAPTCHA_TIMEOUT_MS,
    deviceCookie,
    passwordResetUrl,
  } = options
  if (typeof accountField !== 'string' || accountField === '') {
    throw configError('accountField must be the name of a req.body field')
  }
  if (accountOption !== undefined && typeof accountOption !== 'function') {
    throw configError('account must be a function (req) => string | Promise<string>')
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
  const cookieName = deviceCookie?.name ?? 'loginguard_device'
  const cookieMaxAgeMs = deviceCookie?.maxAgeMs ?? DEFAULT_COOKIE_MAX_AGE_MS
  const now = deviceCookie?.now ?? Date.now

  // The account to key: the application's (`account`) or the body field, as given. Anything
  // but a string is undefined; a throw is the application's error and goes to next(err).
  async function accountOf(req) {
    const value = accountOption ? await accountOption(req) : req.body?.[accountField]
    return typeof value === 'string' ? value : undefined
  }

  // Whether the core keys this account (not empty once normalized, not over-long), asked
  // without touching a counter, so that no attempt falls back to the network alone.
  function keyable(account) {
    try {
      guard.inspect({ account })
      return true
    } catch (err) {
      if (err.code === 'ERR_LOGINGUARD_INVALID_ATTEMPT') return false
      throw err
    }
  }

  // `verifyCaptcha` under one deadline: past it, or on a throw or rejection, it failed.
  async function captchaPassed(req) {
    if (verifyCaptcha === undefined) return false
    const controller = new AbortController()
    let timer
    const expired = new Promise((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new Error(`CAPTCHA verification took over ${captchaTimeoutMs} ms`))
        resolve(false)
      }, captchaTimeoutMs)
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

  // Answers the refusal and returns true when the password must not be checked.
  function refused(res, decision, challengePassed) {
    switch (decision.action) {
      case 'allow':
        return false
      case 'challenge':
        if (challengePassed) return false
        refuse(res, 403, {
          error: 'challenge_required',
          reason: decision.reason,
          message: 'Complete the CAPTCHA to log in.',
        })
        return true
      case 'deny':
        if (decision.reason === 'denylist') {
          refuse(res, 403, {
            error: 'forbidden',
            reason: 'denylist',
            message: 'Logins from your network are not allowed.',
          })
        } else {
          const seconds = Math.ceil(decision.retryAfterMs / 1000)
          refuse(
            res,
            429,
            {
              error: 'too_many_attempts',
              reason: decision.reason,
              retryAfterSeconds: seconds,
              message: `Too many failed logins ${WHERE[decision.reason]}. Try again in ${seconds} s.`,
            },
            decision.retryAfterMs,
          )
        }
        return true
      default:
        refuse(res, 403, {
          error: 'password_reset_required',
          reason: decision.reason,
          message: 'Too many failed logins: reset your password to log in again.',
          ...(passwordResetUrl ? { resetUrl: passwordResetUrl } : {}),
        })
        return true
    }
  }

  return async function loginguardMiddleware(req, res, next) {
    try {
      const account = await accountOf(req)
      if (account === undefined) return invalidAttempt(req, res, NO_ACCOUNT)
      if (!keyable(account)) return invalidAttempt(req, res, ACCOUNT_REFUSED)
      let credential // looked up once, when a cookie is to be checked or may be issued
      const credentialFor = async () => {
        if (credential === undefined) credential = await credentialOf(deviceCookie.accountSecret, account)
        return credential
      }
      let device
      const cookie = deviceCookie ? readCookie(req.headers.cookie, cookieName) : undefined
      if (cookie !== undefined && (await credentialFor()) !== null) {
        device = verifiedDevice(deviceCookie.secret, cookie, account, credential, now(), cookieMaxAgeMs)
      }
      const attempt = { account, ip: req.ip, device }
      let decision
      try {
        decision = guard.begin(attempt)
        let passed = false
        if (decision.action === 'challenge') {
          passed = await captchaPassed(req)
          if (passed) decision = guard.begin({ ...attempt, challengePassed: true })
        }
        if (refused(res, decision, passed)) return
      } catch (err) {
        if (err.code === 'ERR_LOGINGUARD_INVALID_ATTEMPT' || err.code === 'ERR_LOGINGUARD_INVALID_IP') {
          return invalidAttempt(req, res, UNUSABLE)
        }
        throw err
      }
      // A failure here leaves begin's failure recorded: the password was never checked.
      if (deviceCookie) await credentialFor()
      let settled = false
      req.loginguard = {
        decision,
        account,
        failure() {
          // `begin` recorded this failure in advance; nothing more to record.
          settled = true
          return guard.check(attempt)
        },
        success() {
          if (settled) return
          settled = true
          guard.recordSuccess({ ...attempt, afterBegin: true })
          if (deviceCookie && credential !== null) {
            const id = device ?? randomBytes(DEVICE_ID_BYTES).toString('base64url')
            const issued = Math.floor(now())
            const secure = req.secure ? '; Secure' : ''
            res.append(
              'Set-Cookie',
              `${cookieName}=${id}.${issued}.${sign(deviceCookie.secret, account, id, issued, credential)}; Max-Age=${Math.ceil(cookieMaxAgeMs / 1000)}; Path=/; HttpOnly; SameSite=Lax${secure}`,
            )
          }
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
