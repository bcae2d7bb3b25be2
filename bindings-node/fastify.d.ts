import type { FastifyPluginAsync, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
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
   * A throw or rejection goes to Fastify's error handler.
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
   * The `request.body` field holding the account name; `username` by default. Missing, not
   * a string, or refused by the engine (empty, over 1024 bytes): 400, counting nothing.
   */
  accountField?: string
  /**
   * The account to key the attempt on, instead of `request.body[accountField]`: e.g. the
   * typed name lowercased. Return the canonical name for unknown users too; anything but a
   * string is a 400 that counts nothing; a throw or rejection goes to Fastify's error handler.
   */
  account?: (request: FastifyRequest) => string | undefined | Promise<string | undefined>
  /**
   * Verifies the CAPTCHA answer of a request; a throw, a rejection or no answer within
   * `captchaTimeoutMs` counts as failed, and then `signal` aborts.
   */
  verifyCaptcha?: (request: FastifyRequest, context: { signal: AbortSignal }) => boolean | Promise<boolean>
  /** The deadline for `verifyCaptcha`, in milliseconds; 10 000 by default. */
  captchaTimeoutMs?: number
  /** Issue and honour signed device cookies, bound to the account (the same format as `loginguard/express`). */
  deviceCookie?: DeviceCookieOptions
  /** Sent as `resetUrl` with `password_reset_required` answers. */
  passwordResetUrl?: string
}

/** What the preHandler leaves on `request.loginguard` for the login handler. */
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
  /** The password was right: records the success and sets the device cookie on the reply. */
  success(): void
}

/**
 * What `request.loginguard` is with an AsyncGuard (the redis store): the same, with Promises to await
 * (`await request.loginguard.failure()` type-checks with either guard; for exact types,
 * `request.loginguard as unknown as AsyncLoginGuardRequest`).
 */
export interface AsyncLoginGuardRequest {
  decision: Decision
  account: string
  /** The password was wrong: resolves with the decision now in effect (one Redis round trip). */
  failure(): Promise<Decision>
  /** The password was right: records the success (resolves once recorded) and issues the device cookie. */
  success(): Promise<void>
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the loginguard preHandler on a guarded route; `null` elsewhere. */
    loginguard: LoginGuardRequest | null
  }
  interface FastifyInstance {
    /** The preHandler for the login route: `{ preHandler: fastify.loginguard }`. */
    loginguard: preHandlerAsyncHookHandler
  }
  interface FastifyContextConfig {
    /** `true`: the route gets the loginguard preHandler before its own. */
    loginguard?: boolean
  }
}

/**
 * The plugin (not encapsulated, like fastify-plugin's): `fastify.loginguard`, the login
 * route's preHandler, answers 400 `invalid_login_attempt` for a missing or non-string
 * account (counting nothing), 429 with `Retry-After` on `deny`, 403 for the deny list,
 * 403 `challenge_required` until `verifyCaptcha` passes, 403 `password_reset_required`;
 * otherwise it sets `request.loginguard` and the handler runs.
 */
declare const loginguard: FastifyPluginAsync<LoginGuardOptions>
export default loginguard
export { loginguard }
