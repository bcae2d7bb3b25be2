import type { FastifyPluginAsync, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type {
  SharedAsyncLoginGuardRequest,
  SharedDeviceCookieOptions,
  SharedLoginGuardOptions,
  SharedLoginGuardRequest,
} from './lib/options'

/** Device cookies, in the same format as `loginguard/express`. */
export interface DeviceCookieOptions extends SharedDeviceCookieOptions {
  /**
   * The account's credential signed into the cookie (see `SharedDeviceCookieOptions`).
   * A throw or rejection goes to Fastify's error handler.
   */
  accountSecret?: SharedDeviceCookieOptions['accountSecret']
}

export interface LoginGuardOptions extends SharedLoginGuardOptions<FastifyRequest, DeviceCookieOptions> {
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
}

/** What the preHandler leaves on `request.loginguard` for the login handler. */
export interface LoginGuardRequest extends SharedLoginGuardRequest {
  /** The password was right: records the success and sets the device cookie on the reply. */
  success(): void
}

/**
 * What `request.loginguard` is with an AsyncGuard (the redis store): the same, with Promises to await
 * (`await request.loginguard.failure()` type-checks with either guard; for exact types,
 * `request.loginguard as unknown as AsyncLoginGuardRequest`).
 */
export interface AsyncLoginGuardRequest extends SharedAsyncLoginGuardRequest {}

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
