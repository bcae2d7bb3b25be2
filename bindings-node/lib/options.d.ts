// The options and request objects that loginguard/express and loginguard/fastify share;
// each of them extends these with its own request type and says where its errors go.
import type { AsyncGuard, Decision, Guard } from '../loginguard'

/** Signed device cookies: one format for every framework. */
export interface SharedDeviceCookieOptions {
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
   */
  accountSecret?: (account: string) => string | Buffer | undefined | Promise<string | Buffer | undefined>
  /** The time, in Unix epoch milliseconds, for issue times and ages; `Date.now` by default (tests inject one). */
  now?: () => number
}

/** The login-route options that do not depend on the framework; `Req` is its request type. */
export interface SharedLoginGuardOptions<Req, Cookie extends SharedDeviceCookieOptions = SharedDeviceCookieOptions> {
  /** The guard every login attempt goes through: a Guard, or an AsyncGuard (the redis store), whose Promises are awaited. */
  guard: Guard | AsyncGuard
  /**
   * The client's address to key the attempt on, instead of the framework's (`req.ip`, which
   * the framework's trusted-proxy setting decides): e.g. from a header your proxy sets. Must
   * return a non-empty string; anything else, like a missing address (an app on a unix
   * socket with no trusted proxy hop), is an error with code `ERR_LOGINGUARD_NO_CLIENT_IP`
   * for `next(err)` (Express) or Fastify's error handler, counting nothing. A throw is the
   * application's error and goes there too.
   */
  clientIp?: (request: Req) => string
  /**
   * Verifies the CAPTCHA answer of a request; a throw, a rejection or no answer within
   * `captchaTimeoutMs` counts as failed, and then `signal` aborts.
   */
  verifyCaptcha?: (request: Req, context: { signal: AbortSignal }) => boolean | Promise<boolean>
  /** The deadline for `verifyCaptcha`, in milliseconds; 10 000 by default. */
  captchaTimeoutMs?: number
  /** Issue and honour signed device cookies (OWASP "device cookies"), bound to the account. */
  deviceCookie?: Cookie
  /** Sent as `resetUrl` with `password_reset_required` answers. */
  passwordResetUrl?: string
}

/** What the login route is handed: the decision and the account (the framework adds `success`). */
export interface SharedLoginGuardRequest {
  /** The decision the attempt faced. */
  decision: Decision
  /** The account the counters keyed: check the password of this one. */
  account: string
  /**
   * The password was wrong: nothing more is recorded (`begin` did); returns the decision now
   * in effect. With an AsyncGuard, a Promise of it: see `AsyncLoginGuardRequest`.
   */
  failure(): Decision
}

/** The login route's object with an AsyncGuard (the redis store): the same, with Promises to await. */
export interface SharedAsyncLoginGuardRequest {
  decision: Decision
  account: string
  /** The password was wrong: resolves with the decision now in effect (one Redis round trip). */
  failure(): Promise<Decision>
  /** The password was right: records the success (resolves once recorded) and issues the device cookie. */
  success(): Promise<void>
}
