import type { Request, RequestHandler } from 'express'
import type { Decision, Reason } from './loginguard'
import type {
  SharedAsyncLoginGuardRequest,
  SharedDeviceCookieOptions,
  SharedLoginGuardOptions,
  SharedLoginGuardRequest,
} from './lib/options'

export interface DeviceCookieOptions extends SharedDeviceCookieOptions {
  /**
   * The account's credential signed into the cookie (see `SharedDeviceCookieOptions`).
   * A throw or rejection goes to `next(err)`.
   */
  accountSecret?: SharedDeviceCookieOptions['accountSecret']
}

export interface LoginGuardOptions extends SharedLoginGuardOptions<Request, DeviceCookieOptions> {
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
}

/** What the middleware leaves on `req.loginguard` for the login route. */
export interface LoginGuardRequest extends SharedLoginGuardRequest {
  /** The password was right: records the success and issues the device cookie. */
  success(): void
}

/**
 * What `req.loginguard` is with an AsyncGuard (the redis store): the same, with Promises to await
 * (`await req.loginguard.failure()` type-checks with either guard; for exact types,
 * `req.loginguard as unknown as AsyncLoginGuardRequest`).
 */
export interface AsyncLoginGuardRequest extends SharedAsyncLoginGuardRequest {}

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
 * On a request that already has `req.loginguard` (the middleware mounted twice on one
 * route), it calls `next()` without a second `begin`.
 */
declare function loginguard(options: LoginGuardOptions): RequestHandler

/** The JSON body of a refusal: why, and what the user can do. */
export type RefusalBody =
  | { error: 'challenge_required'; reason: Reason; message: string }
  | { error: 'too_many_attempts'; reason: Reason; retryAfterSeconds: number; message: string }
  | { error: 'forbidden'; reason: 'denylist'; message: string }
  | { error: 'password_reset_required'; reason: Reason; message: string; resetUrl?: string }

/**
 * The body the middleware answers `decision` with when it refuses (the CAPTCHA not passed),
 * e.g. to tell the page the next step after a wrong password (`req.loginguard.failure()`);
 * `null` for `allow`. `passwordResetUrl` as given to the middleware.
 */
declare function refusalBody(decision: Decision, options?: { passwordResetUrl?: string }): RefusalBody | null

export default loginguard
export { loginguard, refusalBody }
