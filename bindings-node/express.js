'use strict'
// Express integration: a middleware for the login route. It asks the guard
// (`begin`) before the password is checked and answers refusals itself; the
// route reports the outcome with req.loginguard.success() / .failure().

const { createHmac, randomBytes, timingSafeEqual } = require('node:crypto')
const { Guard } = require('./loginguard.js')

const DEVICE_ID_BYTES = 16

function configError(message) {
  const err = new TypeError(message)
  err.code = 'ERR_LOGINGUARD_TYPE'
  return err
}

function readCookie(header, name) {
  if (typeof header !== 'string') return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

// A device cookie is `<device id>.<HMAC-SHA256(secret, account, device id)>`, so it
// proves that this browser logged in to this account before, and to no other.
function sign(secret, account, deviceId) {
  return createHmac('sha256', secret).update(`loginguard-device\0${account}\0${deviceId}`).digest('base64url')
}

function verifiedDevice(secret, value, account) {
  if (typeof value !== 'string' || typeof account !== 'string' || account === '') return undefined
  const dot = value.indexOf('.')
  if (dot <= 0) return undefined
  const deviceId = value.slice(0, dot)
  const given = Buffer.from(value.slice(dot + 1))
  const expected = Buffer.from(sign(secret, account, deviceId))
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
  return deviceId
}

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
  const { guard, accountField = 'username', verifyCaptcha, deviceCookie, passwordResetUrl } = options
  if (verifyCaptcha !== undefined && typeof verifyCaptcha !== 'function') {
    throw configError('verifyCaptcha must be a function (req) => boolean | Promise<boolean>')
  }
  if (deviceCookie !== undefined && (typeof deviceCookie !== 'object' || !deviceCookie.secret)) {
    throw configError('deviceCookie needs a secret')
  }
  const cookieName = deviceCookie?.name ?? 'loginguard_device'
  const cookieMaxAge = Math.floor((deviceCookie?.maxAgeMs ?? 365 * 24 * 3600 * 1000) / 1000)

  async function captchaPassed(req) {
    if (verifyCaptcha === undefined) return false
    try {
      return (await verifyCaptcha(req)) === true
    } catch {
      return false // a verifier that fails, fails closed
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
      const typed = req.body?.[accountField]
      const account = typeof typed === 'string' ? typed : undefined
      const device = deviceCookie
        ? verifiedDevice(deviceCookie.secret, readCookie(req.headers.cookie, cookieName), account)
        : undefined
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
          refuse(res, 400, { error: 'invalid_login_attempt', message: 'Invalid login attempt.' })
          return
        }
        throw err
      }
      let settled = false
      req.loginguard = {
        decision,
        failure() {
          // `begin` recorded this failure in advance; nothing more to record.
          settled = true
          return guard.check(attempt)
        },
        success() {
          if (settled) return
          settled = true
          guard.recordSuccess({ ...attempt, afterBegin: true })
          if (deviceCookie && account) {
            const id = device ?? randomBytes(DEVICE_ID_BYTES).toString('base64url')
            const secure = req.secure ? '; Secure' : ''
            res.append(
              'Set-Cookie',
              `${cookieName}=${id}.${sign(deviceCookie.secret, account, id)}; Max-Age=${cookieMaxAge}; Path=/; HttpOnly; SameSite=Lax${secure}`,
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
