import type { Request, RequestHandler } from 'express'
import type { AsyncGuard, Decision, Guard } from './loginguard'

export interface DeviceCookieOptions {
  /** HMAC-SHA256 key for signing device cookies (keep it secret, rotate it like a session secret). */
  secret: string | Buffer
  /** Cookie name; `loginguard_device` by default. */
  name?: string
  /**
   * How long a cookie is honoured after its signed issue time (the last successful login
   * on the device), enforced by the server; also the cookie's `Max-Age`. 90 days by default.
   */
  maxAgeMs?: number
  /**
   * The account's credential, e.g. its stored password hash (or a counter bumped on "log out
   * everywhere"), signed into the cookie: when it changes, every cookie issued before is
   * ignored. `undefined` (or empty): no device is trusted for the account and none is issued.
   * A throw or rejection goes to `next(err)`.
   */
  accountSecret?: (account: string) => string | Buffer | undefined | Promise<string | Buffer | undefined>
  /** The time, in Unix epoch milliseconds, for issue times and ages; `Date.now` by default (tests inject one). */
  now?: () => number
}

export interface LoginGuardOptions {
  /** The guard every login attempt goes through. */
  /** A Guard, or an AsyncGuard (the redis store), whose Promises are awaited. */
  guard: Guard | AsyncGuard
  /**
   * The `req.body` field holding the account name; `username` by default. Parse the body
   * first. Missing, not a string, or refused by the engine (empty, over 1024 bytes): 400.
   */
  accountField?: string
  /**
   * The account to key the attempt on, instead of `req.body[accountField]`: e.g. the typed
   * name lowercased or an email looked up to its user. Return the canonical name for unknown
   * users too (an unknown name must get the same answers); anything but a string is a 400
   * that counts nothing; a throw or rejection goes to `next(err)`, counting nothing.
   */
  account?: (req: Request) => string | undefined | Promise<string | undefined>
  /**
   * Verifies the CAPTCHA answer of a request; a throw, a rejection or no answer within
   * `captchaTimeoutMs` counts as failed, and then `signal` aborts.
   */
  verifyCaptcha?: (req: Request, context: { signal: AbortSignal }) => boolean | Promise<boolean>
  /** The deadline for `verifyCaptcha`, in milliseconds; 10 000 by default. */
  captchaTimeoutMs?: number
  /** Issue and honour signed device cookies (OWASP "device cookies"), bound to the account. */
  deviceCookie?: DeviceCookieOptions
  /** Sent as `resetUrl` with `password_reset_required` answers. */
  passwordResetUrl?: string
}

/** What the middleware leaves on `req.loginguard` for the login route. */
export interface LoginGuardRequest {
  /** The decision the attempt faced. */
  decision: Decision
  /** The account the counters keyed: check the password of this one. */
  account: string
  /**
   * The password was wrong: nothing more is recorded (`begin` did); returns the decision now
   * in effect. With an AsyncGuard, a Promise of it: see {@link AsyncLoginGuardRequest}.
   */
  failure(): Decision
  /** The password was right: records the success and issues the device cookie. */
  success(): void
}

/**
 * What `req.loginguard` is with an AsyncGuard (the redis store): the same, with Promises to await
 * (`await req.loginguard.failure()` type-checks with either guard; for exact types,
 * `req.loginguard as unknown as AsyncLoginGuardRequest`).
 */
export interface AsyncLoginGuardRequest {
  decision: Decision
  account: string
  /** The password was wrong: resolves with the decision now in effect (one Redis round trip). */
  failure(): Promise<Decision>
  /** The password was right: records the success (resolves once recorded) and issues the device cookie. */
  success(): Promise<void>
}

declare global {
  namespace Express {
    interface Request {
      loginguard?: LoginGuardRequest
    }
  }
}

/**
 * The login-route middleware: 400 `invalid_login_attempt` (JSON, or text for clients that
 * do not take JSON) for a missing or non-string account, counting nothing; 429 with
 * `Retry-After` on `deny`, 403 for the deny list, 403 `challenge_required` until
 * `verifyCaptcha(req)` passes, 403 `password_reset_required`; otherwise `next()`.
 */
declare function loginguard(options: LoginGuardOptions): RequestHandler
export default loginguard
export { loginguard }
