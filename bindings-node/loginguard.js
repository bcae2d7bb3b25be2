'use strict'
// The public API: a thin EventEmitter around the native guard. No policy logic
// here: argument shapes in, decisions out.

const { EventEmitter } = require('node:events')
const native = require('./index.js')
const { NativeGuard } = native

const ACTIONS = ['allow', 'challenge', 'deny', 'reset_required']
// Indexed by the core's reason + 1 (0 = none): the order of its discriminants.
const REASONS = [null, 'account', 'account_ip', 'ip', 'device', 'denylist', 'ip_range', 'site']
const NATIVE = Symbol('loginguard.native')
const EVENTS = 2097152 // 2^21, see `pack` in src/convert.rs
const RETRY = 4194304 // 2^22
const KEYS_ACCOUNT = Symbol.for('loginguard.keysAccount')
const OPEN = Symbol('loginguard.open')
const CHECK = 0
const BEGIN = 1
const RECORD_FAILURE = 2

function typeError(message) {
  const err = new TypeError(message)
  err.code = 'ERR_LOGINGUARD_TYPE'
  return err
}

function attemptObject(attempt) {
  if (attempt === null || typeof attempt !== 'object') {
    throw typeError('the attempt must be an object like { account, ip, device }')
  }
  return attempt
}

const GUARD_OPTIONS = ['policy', 'manualClock']
const FILE_OPTIONS = ['manualClock']

// The options object, with no key outside `accepted`: a misspelt or misplaced option
// (`{ account: ... }` without `policy:`) would otherwise leave the default silently.
function optionsObject(options, accepted) {
  const shape = `{ ${accepted.join(', ')} }`
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') {
    throw typeError(`options must be an object like ${shape}`)
  }
  for (const key of Object.keys(options)) {
    if (!accepted.includes(key)) throw typeError(`unknown option ${JSON.stringify(key)}: the options are ${shape}`)
  }
  return options
}

// A listener's error goes where Node reports errors from callbacks (an uncaught
// exception) without reaching the guard's caller: it cannot change a decision.
function reportListenerError(err) {
  queueMicrotask(() => {
    throw err
  })
}

// Hands the events the native guard holds to `guard`'s listeners.
function emitEvents(guard, native) {
  for (const event of native.takeEvents()) {
    try {
      guard.emit('event', event)
    } catch (err) {
      reportListenerError(err)
    }
  }
}

// A decision from the native hot path, packed in one number (action, reason, failures,
// the retry time and whether events wait); an object (a rare shape) passes through.
// One synchronous decision through the native hot path, packed (see `unpack`). The device is
// passed only when given: an absent one then costs no Node-API call.
function hotDecide(hot, op, a, challengePassed) {
  const d = a.device
  if (op === BEGIN) {
    const passed = challengePassed ?? false
    return d === undefined ? hot.begin(a.account, a.ip, passed) : hot.begin(a.account, a.ip, passed, d)
  }
  if (op === CHECK) return d === undefined ? hot.check(a.account, a.ip) : hot.check(a.account, a.ip, d)
  return d === undefined ? hot.recordFailure(a.account, a.ip) : hot.recordFailure(a.account, a.ip, d)
}

function unpack(n, guard, native, listening) {
  if (typeof n !== 'number') {
    if (listening) emitEvents(guard, native)
    return n
  }
  let retry = 0
  if (n >= EVENTS) {
    retry = Math.floor(n / RETRY)
    n -= retry * RETRY
    if (n >= EVENTS) {
      n -= EVENTS
      emitEvents(guard, native)
    }
  }
  return {
    action: ACTIONS[n & 3],
    reason: REASONS[(n >> 2) & 7],
    retryAfterMs: retry === 0 ? null : retry - 1,
    failures: n >>> 5,
    degraded: false,
  }
}

class Guard extends EventEmitter {
  #native
  #hot
  #listening = false

  /**
   * @param {{ policy?: string | null, manualClock?: boolean }} [options]
   */
  constructor(options) {
    super()
    const o = optionsObject(options, GUARD_OPTIONS)
    this.#native = o[NATIVE] ?? new NativeGuard(o.policy, o.manualClock)
    this.#hot = this.#native.hotPath()
    this.on('newListener', (name) => {
      if (name === 'event' && !this.#listening) this.#listen(true)
    })
    this.on('removeListener', (name) => {
      if (name === 'event' && this.listenerCount('event') === 0) this.#listen(false)
    })
  }

  static fromPolicyFile(path, options) {
    const o = optionsObject(options, FILE_OPTIONS)
    return new Guard({ [NATIVE]: NativeGuard.fromPolicyFile(path, o.manualClock) })
  }

  #listen(on) {
    this.#native.listen(on)
    this.#listening = on
  }

  #emitEvents() {
    emitEvents(this, this.#native)
  }

  #decision(n) {
    return unpack(n, this, this.#native, this.#listening)
  }

  /** Always false: this guard answers synchronously (see AsyncGuard for the redis store). */
  get isAsync() {
    return false
  }

  /** Whether `account` can be keyed, asked without touching a counter. @internal */
  [KEYS_ACCOUNT](account) {
    return this.#native.keysAccount(account)
  }

  check(attempt) {
    return this.#decision(hotDecide(this.#hot, CHECK, attemptObject(attempt)))
  }

  begin(attempt) {
    const a = attemptObject(attempt)
    return this.#decision(hotDecide(this.#hot, BEGIN, a, a.challengePassed))
  }

  recordFailure(attempt) {
    return this.#decision(hotDecide(this.#hot, RECORD_FAILURE, attemptObject(attempt)))
  }

  recordSuccess(attempt) {
    const a = attemptObject(attempt)
    this.#native.recordSuccess(a.account, a.ip, a.device, a.afterBegin)
  }

  resetAccount(account) {
    this.#native.resetAccount(account)
    if (this.#listening) this.#emitEvents()
  }

  resetIp(ip) {
    this.#native.resetIp(ip)
    if (this.#listening) this.#emitEvents()
  }

  inspect(attempt) {
    const a = attemptObject(attempt)
    return this.#native.inspect(a.account, a.ip, a.device)
  }

  stats() {
    return this.#native.stats()
  }

  siteState() {
    return this.#native.siteState()
  }

  advanceMs(ms) {
    this.#native.advanceMs(ms)
  }
}

// What a native Promise resolved to: the value, or the error to throw (it keeps its `code`).
function settled(value) {
  if (value instanceof Error) throw value
  return value
}

/**
 * The guard for any store, the redis store included: every method returns a Promise, and a
 * redis guard's calls (each may wait on the network up to `store.timeout`) run on a thread
 * pool of their own, never on the event loop nor on libuv's pool. On the memory and shared
 * stores the work is done at once and the Promise is already resolved.
 */
class AsyncGuard extends EventEmitter {
  #native
  #hot
  #redis
  #listening = false

  constructor(token, nativeGuard) {
    if (token !== OPEN) {
      throw typeError('make an AsyncGuard with await AsyncGuard.create({ policy }) or await AsyncGuard.fromPolicyFile(path)')
    }
    super()
    this.#native = nativeGuard
    this.#redis = nativeGuard.redis
    this.#hot = this.#redis ? null : nativeGuard.hotPath()
    this.on('newListener', (name) => {
      if (name === 'event' && !this.#listening) this.#listen(true)
    })
    this.on('removeListener', (name) => {
      if (name === 'event' && this.listenerCount('event') === 0) this.#listen(false)
    })
  }

  /** A guard for `{ policy, manualClock }`; opening a redis store connects, off the event loop. */
  static async create(options) {
    const o = optionsObject(options, GUARD_OPTIONS)
    return new AsyncGuard(OPEN, settled(await NativeGuard.open(o.policy, o.manualClock)))
  }

  /** A guard enforcing the policy file at `path`. */
  static async fromPolicyFile(path, options) {
    const o = optionsObject(options, FILE_OPTIONS)
    return new AsyncGuard(OPEN, settled(await NativeGuard.openPolicyFile(path, o.manualClock)))
  }

  /** Always true: every method returns a Promise. */
  get isAsync() {
    return true
  }

  /** Whether the counters live in Redis. */
  get redis() {
    return this.#redis
  }

  #listen(on) {
    this.#native.listen(on)
    this.#listening = on
  }

  #emitEvents() {
    emitEvents(this, this.#native)
  }

  #unpacked(n) {
    return unpack(n, this, this.#native, this.#listening)
  }

  async #decide(op, attempt, challengePassed) {
    const a = attemptObject(attempt)
    if (this.#hot !== null) {
      return this.#unpacked(hotDecide(this.#hot, op, a, challengePassed))
    }
    const decision = settled(await this.#native.decideAsync(op, a.account, a.ip, a.device, challengePassed))
    if (this.#listening) this.#emitEvents()
    return decision
  }

  #after(value) {
    if (this.#listening) this.#emitEvents()
    return value
  }

  /** The pre-authentication decision; changes no counter. */
  check(attempt) {
    return this.#decide(CHECK, attempt)
  }

  /** The race-free pre-check: records one failure in advance when the password may be checked. */
  begin(attempt) {
    return this.#decide(BEGIN, attempt, attempt?.challengePassed)
  }

  /** Records a failed login; resolves with the decision the counters now give. */
  recordFailure(attempt) {
    return this.#decide(RECORD_FAILURE, attempt)
  }

  async recordSuccess(attempt) {
    const a = attemptObject(attempt)
    if (!this.#redis) return void this.#native.recordSuccess(a.account, a.ip, a.device, a.afterBegin)
    settled(await this.#native.recordSuccessAsync(a.account, a.ip, a.device, a.afterBegin))
  }

  async resetAccount(account) {
    if (!this.#redis) this.#native.resetAccount(account)
    else settled(await this.#native.resetAccountAsync(account))
    this.#after()
  }

  async resetIp(ip) {
    if (!this.#redis) this.#native.resetIp(ip)
    else settled(await this.#native.resetIpAsync(ip))
    this.#after()
  }

  async inspect(attempt) {
    const a = attemptObject(attempt)
    if (!this.#redis) return this.#native.inspect(a.account, a.ip, a.device)
    return settled(await this.#native.inspectAsync(a.account, a.ip, a.device))
  }

  async stats() {
    if (!this.#redis) return this.#native.stats()
    return settled(await this.#native.statsAsync())
  }

  async siteState() {
    if (!this.#redis) return this.#native.siteState()
    // On the redis store a round trip, off the JS thread.
    return settled(await this.#native.siteStateAsync())
  }

  /** Moves the manual clock forward (only with `manualClock: true`; synchronous). */
  advanceMs(ms) {
    this.#native.advanceMs(ms)
  }

  /** Whether `account` can be keyed, asked without touching a counter or the network. @internal */
  [KEYS_ACCOUNT](account) {
    return this.#native.keysAccount(account)
  }
}

/** Whether `decision` lets the password be checked (the core's rule). */
function letsPasswordBeChecked(decision, challengePassed = false) {
  return native.letsPasswordBeChecked(decision.action, challengePassed === true)
}

module.exports = { Guard, AsyncGuard, letsPasswordBeChecked }
