import type { IncomingMessage } from 'node:http'
import type { AsyncGuard, Guard, Reason } from './loginguard'

/** The request as Passport hands it to strategies (an Express request, usually). */
export type PassportRequest = IncomingMessage & { body?: any; ip?: string }

export interface GuardStrategyOptions {
  /** The guard every authentication through the strategy goes through. */
  /** A Guard, or an AsyncGuard (the redis store), whose Promises are awaited. */
  guard: Guard | AsyncGuard
  /**
   * The account to key the attempt on, from the username the strategy read: e.g. it
   * lowercased. Return the canonical name for unknown users too; anything but a string
   * fails with 400 `invalid_login_attempt`, counting nothing; a throw or rejection is
   * Passport's `error` (your error handler).
   */
  account?: (req: PassportRequest, username: unknown) => string | undefined | Promise<string | undefined>
  /**
   * The client's address to key the attempt on, instead of `req.ip` (Express's `trust proxy`
   * decides; the socket's address without Express): e.g. from a header your proxy sets. Must
   * return a non-empty string; anything else, like a missing address (an app on a unix
   * socket with no trusted proxy hop), is Passport's `error` with code
   * `ERR_LOGINGUARD_NO_CLIENT_IP`, before verify runs, counting nothing.
   */
  clientIp?: (req: PassportRequest) => string
  /**
   * Verifies the CAPTCHA answer of a request; a throw, a rejection or no answer within
   * `captchaTimeoutMs` counts as failed, and then `signal` aborts.
   */
  verifyCaptcha?: (req: PassportRequest, context: { signal: AbortSignal }) => boolean | Promise<boolean>
  /** The deadline for `verifyCaptcha`, in milliseconds; 10 000 by default. */
  captchaTimeoutMs?: number
  /** Sent as `resetUrl` with `password_reset_required` failures. */
  passwordResetUrl?: string
}

/**
 * What a refused authentication fails with: Passport's `fail(info, status)`, so a custom
 * callback gets it as `info` (and `status`), `failureMessage` shows `message`.
 * Statuses: 400 `invalid_login_attempt`, 403 `challenge_required`, 429 `too_many_attempts`
 * (with `Retry-After` set on the response), 403 `forbidden` (the deny list),
 * 403 `password_reset_required`.
 */
export interface RefusalInfo {
  error: 'invalid_login_attempt' | 'challenge_required' | 'too_many_attempts' | 'forbidden' | 'password_reset_required'
  /** Why, for the user. */
  message: string
  /** Which counter (or list) decided; absent for `invalid_login_attempt`. */
  reason?: Reason | null
  /** For `too_many_attempts`: milliseconds until the lock ends; otherwise `null`. */
  retryAfterMs: number | null
  /** For `too_many_attempts`: the same in seconds, rounded up. */
  retryAfterSeconds?: number
  /** For `password_reset_required`, when `passwordResetUrl` is set. */
  resetUrl?: string
}

/**
 * Wraps a strategy whose verify callback is given the username (passport-local, or any
 * strategy calling `this._verify([req,] username, ...)`): `begin` before the verify
 * callback checks the password; a decision that does not let it be checked fails the
 * authentication with a {@link RefusalInfo}; a verified user records the success
 * (`recordSuccess` with `afterBegin`); a failure records nothing more. Returns a strategy
 * for `passport.use()`, with the wrapped one's name; the wrapped strategy is unchanged.
 */
declare function guardStrategy<S extends object>(strategy: S, options: GuardStrategyOptions): S
export default guardStrategy
export { guardStrategy }
