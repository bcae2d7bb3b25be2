'use strict'
// The public API: a thin EventEmitter around the native guard. No policy logic
// here: argument shapes in, decisions out.

const { EventEmitter } = require('node:events')
const native = require('./index.js')
const { NativeGuard } = native

const ACTIONS = ['allow', 'challenge', 'deny', 'reset_required']
const REASONS = [null, 'account', 'account_ip', 'ip', 'device', 'denylist']
const NATIVE = Symbol('loginguard.native')
const EVENTS = 2097152 // 2^21, see `pack` in src/convert.rs
const RETRY = 4194304 // 2^22

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

function optionsObject(options, shape) {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') {
    throw typeError(`options must be an object like ${shape}`)
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

class Guard extends EventEmitter {
  #native
  #hot
  #listening = false

  /**
   * @param {{ policy?: string | null, manualClock?: boolean }} [options]
   */
  constructor(options) {
    super()
    const o = optionsObject(options, '{ policy, manualClock }')
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
    const o = optionsObject(options, '{ manualClock }')
    return new Guard({ [NATIVE]: NativeGuard.fromPolicyFile(path, o.manualClock) })
  }

  #listen(on) {
    this.#native.listen(on)
    this.#listening = on
  }

  #emitEvents() {
    for (const event of this.#native.takeEvents()) {
      try {
        this.emit('event', event)
      } catch (err) {
        reportListenerError(err)
      }
    }
  }

  #decision(n) {
    if (typeof n !== 'number') {
      if (this.#listening) this.#emitEvents()
      return n
    }
    if (n >= EVENTS) {
      const retry = Math.floor(n / RETRY)
      n -= retry * RETRY
      if (n >= EVENTS) {
        n -= EVENTS
        this.#emitEvents()
      }
      return {
        action: ACTIONS[n & 3],
        reason: REASONS[(n >> 2) & 7],
        retryAfterMs: retry === 0 ? null : retry - 1,
        failures: n >>> 5,
        degraded: false,
      }
    }
    return { action: ACTIONS[n & 3], reason: REASONS[(n >> 2) & 7], retryAfterMs: null, failures: n >>> 5, degraded: false }
  }

  check(attempt) {
    const a = attemptObject(attempt)
    return this.#decision(this.#hot.check(a.account, a.ip, a.device))
  }

  begin(attempt) {
    const a = attemptObject(attempt)
    return this.#decision(this.#hot.begin(a.account, a.ip, a.device, a.challengePassed))
  }

  recordFailure(attempt) {
    const a = attemptObject(attempt)
    return this.#decision(this.#hot.recordFailure(a.account, a.ip, a.device))
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

  advanceMs(ms) {
    this.#native.advanceMs(ms)
  }
}

/** Whether the application may go on to check the password, given whether a CAPTCHA was passed. */
/** Whether `decision` lets the password be checked (the core's rule). */
function letsPasswordBeChecked(decision, challengePassed = false) {
  return native.letsPasswordBeChecked(decision.action, challengePassed === true)
}

module.exports = { Guard, letsPasswordBeChecked }
