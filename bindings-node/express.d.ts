import type { Request, RequestHandler } from 'express'
import type { Decision, Guard } from './loginguard'

export interface DeviceCookieOptions {
  /** HMAC-SHA256 key for signing device cookies (keep it secret, rotate it like a session secret). */
  secret: string | Buffer
  /** Cookie name; `loginguard_device` by default. */
  name?: string
  /** Cookie lifetime; one year by default. */
  maxAgeMs?: number
}

export interface LoginGuardOptions {
  /** The guard every login attempt goes through. */
  guard: Guard
  /** The `req.body` field holding the account name; `username` by default. Parse the body first. */
  accountField?: string
  /** Verifies the CAPTCHA answer of a request; a throw or rejection counts as failed. */
  verifyCaptcha?: (req: Request) => boolean | Promise<boolean>
  /** Issue and honour signed device cookies (OWASP "device cookies"), bound to the account. */
  deviceCookie?: DeviceCookieOptions
  /** Sent as `resetUrl` with `password_reset_required` answers. */
  passwordResetUrl?: string
}

/** What the middleware leaves on `req.loginguard` for the login route. */
export interface LoginGuardRequest {
  /** The decision the attempt faced. */
  decision: Decision
  /** The password was wrong: nothing more is recorded (`begin` did); returns the decision now in effect. */
  failure(): Decision
  /** The password was right: records the success and issues the device cookie. */
  success(): void
}

declare global {
  namespace Express {
    interface Request {
      loginguard?: LoginGuardRequest
    }
  }
}

/**
 * The login-route middleware: 429 with `Retry-After` on `deny`, 403 for the deny
 * list, 403 `challenge_required` until `verifyCaptcha(req)` passes, 403
 * `password_reset_required`, 400 `invalid_login_attempt`; otherwise `next()`.
 */
declare function loginguard(options: LoginGuardOptions): RequestHandler
export default loginguard
export { loginguard }
