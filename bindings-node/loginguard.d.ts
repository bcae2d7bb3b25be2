// Public types of `require('loginguard')`. The data shapes come from the
// generated `index.d.ts` (checked for drift), so they cannot disagree with the binding.
import { EventEmitter } from 'node:events'
import type {
  Action,
  Decision,
  Dimension,
  DimensionState,
  EventKind,
  GuardEvent,
  Inspection,
  Reason,
  SiteState,
  Stats,
} from './index'

export type {
  Action,
  Decision,
  Dimension,
  DimensionState,
  EventKind,
  GuardEvent,
  Inspection,
  Reason,
  SiteState,
  Stats,
}

/**
 * The stable `code` of every error loginguard throws (an `Error`; a `TypeError` for
 * a non-object attempt or options):
 * - `ERR_LOGINGUARD_INVALID_ATTEMPT`: no account and no ip, a device without an account,
 *   an account over 1024 bytes or a device over 256 bytes. Nothing is recorded.
 * - `ERR_LOGINGUARD_INVALID_IP`: not IPv4/IPv6 text nor 4 or 16 raw bytes.
 * - `ERR_LOGINGUARD_INVALID_UTF8`: text that is not UTF-8 (not expected from JS strings).
 * - `ERR_LOGINGUARD_POLICY`: a bad policy; the message names the field (`account_ip.lock_for`).
 * - `ERR_LOGINGUARD_STORE`: the store could not be opened, or a redis policy was given to
 *   the synchronous `Guard` (use {@link AsyncGuard}).
 * - `ERR_LOGINGUARD_TYPE`: an argument of the wrong JS type, or an unknown option key.
 * - `ERR_LOGINGUARD_CLOCK`: `advanceMs` on a guard without `manualClock: true`.
 * - `ERR_LOGINGUARD_NO_CLIENT_IP`: an integration (express, fastify, passport) got no client
 *   address (`req.ip` undefined, e.g. on a unix socket without a trusted proxy hop) or a
 *   `clientIp` option that returned none. Nothing is recorded.
 * - `ERR_LOGINGUARD_PANIC`: a panic in loginguard, caught at the boundary (never expected).
 * - `ERR_LOGINGUARD_INTERNAL`: Node-API itself failed (never expected).
 */
export type ErrorCode =
  | 'ERR_LOGINGUARD_INVALID_ATTEMPT'
  | 'ERR_LOGINGUARD_INVALID_IP'
  | 'ERR_LOGINGUARD_INVALID_UTF8'
  | 'ERR_LOGINGUARD_POLICY'
  | 'ERR_LOGINGUARD_STORE'
  | 'ERR_LOGINGUARD_TYPE'
  | 'ERR_LOGINGUARD_CLOCK'
  | 'ERR_LOGINGUARD_NO_CLIENT_IP'
  | 'ERR_LOGINGUARD_PANIC'
  | 'ERR_LOGINGUARD_INTERNAL'

/** An error thrown by loginguard. */
export interface LoginGuardError extends Error {
  code: ErrorCode
}

/** One login attempt. Empty values count as absent; at least an account or an ip is needed. */
export interface Attempt {
  /** The account name as typed (at most 1024 bytes). */
  account?: string | null
  /** The client's address: IPv4/IPv6 text, or 4 or 16 raw bytes. */
  ip?: string | Uint8Array | null
  /** The id of a device already trusted for this account (at most 256 bytes). */
  device?: string | Uint8Array | null
}

export interface BeginAttempt extends Attempt {
  /** The application verified a CAPTCHA for this attempt. */
  challengePassed?: boolean | null
}

export interface SuccessAttempt extends Attempt {
  /** This attempt went through `begin`: take its advance back where a success clears nothing. */
  afterBegin?: boolean | null
}

/** A duration with its unit: `'500ms'`, `'30s'`, `'15m'`, `'24h'`, `'7d'`. */
export type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`

/** One dimension's rule, as in a policy file's `[account]` table. `false` turns a threshold off. */
export interface RuleObject {
  enabled?: boolean
  forget_after?: Duration
  forgive_every?: Duration | false
  challenge_after?: number | false
  lock_after?: number | false
  lock_for?: Duration
  lock_growth?: number
  lock_max?: Duration
  reset_after?: number | false
  reset_on_success?: boolean
}

/** A policy built in code: the policy file's shape, field for field. Left out: the default. */
export interface PolicyObject {
  account_normalize?: 'fold' | 'exact'
  ipv4_prefix?: number
  ipv6_prefix?: number
  allow_cidrs?: string[]
  deny_cidrs?: string[]
  account?: RuleObject
  account_ip?: RuleObject
  ip?: RuleObject
  /** The wider network's counter, with its own prefixes (default 24 and 48). */
  ip_range?: RuleObject & { ipv4_prefix?: number; ipv6_prefix?: number }
  device?: RuleObject
  /** The site-wide signal; off unless `challenge_when` is a rate such as `'300/1m'`. */
  site?: {
    challenge_when?: `${number}/${Duration}` | false
    calm_when?: `${number}/${Duration}`
    calm_for?: Duration
    baseline?: 'fixed' | 'auto'
    surge?: number
  }
  store?: {
    kind?: 'memory' | 'shared' | 'redis'
    capacity?: number
    path?: string
    mode?: string
    /** The redis store (an {@link AsyncGuard}): `redis://`, `rediss://` or `unix://`. */
    url?: string
    cluster?: string[]
    prefix?: string
    timeout?: Duration
    connect_timeout?: Duration
    on_error?: 'challenge' | 'allow' | 'deny'
    clock?: 'redis' | 'host'
    retain?: Duration
    secret_file?: string
  }
}

/** The options of `new Guard` and `AsyncGuard.create`; any other key is refused (`ERR_LOGINGUARD_TYPE`). */
export interface GuardOptions {
  /** The policy: TOML text (the policy-file format) or a {@link PolicyObject}; the defaults when absent. */
  policy?: string | PolicyObject | null
  /** Read time from a manual clock at 0 ms, moved only by `advanceMs` (for tests). */
  manualClock?: boolean | null
}

/**
 * The login-protection engine on the memory or shared store: every method answers at once
 * (nanoseconds). A redis policy is refused (`ERR_LOGINGUARD_STORE`): use {@link AsyncGuard}.
 * Emits `'event'` with a {@link GuardEvent}.
 */
export declare class Guard extends EventEmitter {
  constructor(options?: GuardOptions)
  /** A guard enforcing the policy file at `path` (not a redis one: see {@link AsyncGuard}). */
  static fromPolicyFile(path: string, options?: { manualClock?: boolean | null }): Guard
  /** False: this guard answers synchronously. */
  readonly isAsync: false
  /** The pre-authentication decision; changes no counter. */
  check(attempt: Attempt): Decision
  /** The race-free pre-check: records one failure in advance when the password may be checked. */
  begin(attempt: BeginAttempt): Decision
  /** Records a failed login; returns the decision the counters now give. */
  recordFailure(attempt: Attempt): Decision
  /** Records a successful login. */
  recordSuccess(attempt: SuccessAttempt): void
  /** Clears every counter of the account, `reset_required` included. */
  resetAccount(account: string): void
  /** Clears the network's `ip` counter and its range's `ip_range` counter. */
  resetIp(ip: string | Uint8Array): void
  /** Every governing dimension's state, for support staff. */
  inspect(attempt: Attempt): Inspection
  /** Capacity, occupancy, evictions, refused inserts, memory and decisions by action. */
  stats(): Stats
  /** The site-wide signal now (no table scan); `null` when the policy has no `[site]`. */
  siteState(): SiteState | null
  /** Moves the manual clock forward (only with `manualClock: true`). */
  advanceMs(ms: number): void

  on(event: 'event', listener: (event: GuardEvent) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'event', listener: (event: GuardEvent) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
  off(event: 'event', listener: (event: GuardEvent) => void): this
  off(event: string | symbol, listener: (...args: any[]) => void): this
}

/**
 * The engine on any store, the redis store included: every method returns a Promise.
 * On a redis guard each call (which may wait on Redis up to `store.timeout`) runs on a
 * thread pool of its own, never on the event loop nor on libuv's pool; when Redis cannot
 * answer, the decision is `store.on_error`'s, with `degraded: true`. On the memory and
 * shared stores the work is done at once and the Promise is already resolved.
 * Errors reject with the same codes as {@link Guard}'s throws. Emits `'event'` like Guard.
 */
export declare class AsyncGuard extends EventEmitter {
  private constructor()
  /** A guard for `{ policy, manualClock }`; opening a redis store connects (off the event loop). */
  static create(options?: GuardOptions): Promise<AsyncGuard>
  /** A guard enforcing the policy file at `path`. */
  static fromPolicyFile(path: string, options?: { manualClock?: boolean | null }): Promise<AsyncGuard>
  /** True: every method returns a Promise. */
  readonly isAsync: true
  /** Whether the counters live in Redis. */
  readonly redis: boolean
  /** The pre-authentication decision; changes no counter. One Redis round trip. */
  check(attempt: Attempt): Promise<Decision>
  /** The race-free pre-check: records one failure in advance when the password may be checked. */
  begin(attempt: BeginAttempt): Promise<Decision>
  /** Records a failed login; resolves with the decision the counters now give. */
  recordFailure(attempt: Attempt): Promise<Decision>
  /** Records a successful login. */
  recordSuccess(attempt: SuccessAttempt): Promise<void>
  /** Clears every counter of the account, `reset_required` included. */
  resetAccount(account: string): Promise<void>
  /** Clears the network's `ip` counter and its range's `ip_range` counter. */
  resetIp(ip: string | Uint8Array): Promise<void>
  /** Every governing dimension's state, for support staff. */
  inspect(attempt: Attempt): Promise<Inspection>
  /** This process's decisions by action (and, on the memory store, the table's occupancy). */
  stats(): Promise<Stats>
  /** The site-wide signal now; `null` when the policy has no `[site]` (on the redis store, also when Redis cannot answer). */
  siteState(): Promise<SiteState | null>
  /** Moves the manual clock forward (only with `manualClock: true`); synchronous. */
  advanceMs(ms: number): void

  on(event: 'event', listener: (event: GuardEvent) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'event', listener: (event: GuardEvent) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
  off(event: 'event', listener: (event: GuardEvent) => void): this
  off(event: string | symbol, listener: (...args: any[]) => void): this
}

/** Whether the application may go on to check the password, given whether a CAPTCHA was passed. */
export declare function letsPasswordBeChecked(decision: Decision, challengePassed?: boolean): boolean
