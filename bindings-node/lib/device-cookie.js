'use strict'
// Device cookies (OWASP): `<device id>.<issue time, ms>.<HMAC-SHA256>`, the same format
// for every framework integration, so one browser's cookie is honoured by all of them.

const { createHmac, randomBytes, timingSafeEqual } = require('node:crypto')

const DEVICE_ID_BYTES = 16
const DAY_MS = 24 * 3600 * 1000
const DEFAULT_COOKIE_NAME = 'loginguard_device'
const DEFAULT_COOKIE_MAX_AGE_MS = 90 * DAY_MS
// Servers' clocks differ a little: a cookie issued up to this far "in the future" is still honoured.
const CLOCK_SKEW_MS = 60_000
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const DEVICE_COOKIE = /^([\w-]{1,64})\.(\d{1,16})\.([\w-]{43})$/

function readCookie(header, name) {
  if (typeof header !== 'string') return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

// The HMAC over the account, the id, the issue time and the account's credential (from
// `accountSecret`, or nothing): it proves that this browser logged in to this account,
// when, and under which password. Each field is length-prefixed so that no two field
// lists sign alike.
function sign(secret, account, deviceId, issuedMs, credential) {
  const mac = createHmac('sha256', secret).update('loginguard-device-v2')
  for (const field of [Buffer.from(account), Buffer.from(deviceId), Buffer.from(String(issuedMs)), credential]) {
    mac.update(`\0${field.length}\0`).update(field)
  }
  return mac.digest('base64url')
}

// The device id of a cookie issued to `account` under `credential` less than `maxAgeMs`
// ago; undefined for anything else (another account, tampered, expired, older format).
function verifiedDevice(secret, value, account, credential, nowMs, maxAgeMs) {
  const parts = typeof value === 'string' ? DEVICE_COOKIE.exec(value) : null
  if (parts === null) return undefined
  const [, deviceId, issued, given] = parts
  const expected = Buffer.from(sign(secret, account, deviceId, issued, credential))
  if (!timingSafeEqual(Buffer.from(given), expected)) return undefined
  const age = nowMs - Number(issued)
  return age < maxAgeMs && age >= -CLOCK_SKEW_MS ? deviceId : undefined
}

// The account's credential for device cookies: empty without `accountSecret`, null when
// the application names none (no device is trusted for that account, none is issued).
async function credentialOf(accountSecret, account) {
  if (accountSecret === undefined) return Buffer.alloc(0)
  const value = await accountSecret(account)
  if (typeof value === 'string' && value !== '') return Buffer.from(value)
  if (value instanceof Uint8Array && value.length > 0) return Buffer.from(value)
  return null
}

// The Set-Cookie value for a successful login on `device` (a new id when undefined).
function deviceCookieHeader({ secret, name, maxAgeMs }, account, device, credential, issuedMs, secure) {
  const id = device ?? randomBytes(DEVICE_ID_BYTES).toString('base64url')
  const issued = Math.floor(issuedMs)
  return (
    `${name}=${id}.${issued}.${sign(secret, account, id, issued, credential)}; ` +
    `Max-Age=${Math.ceil(maxAgeMs / 1000)}; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
  )
}

module.exports = {
  COOKIE_NAME,
  DEFAULT_COOKIE_NAME,
  DEFAULT_COOKIE_MAX_AGE_MS,
  credentialOf,
  deviceCookieHeader,
  readCookie,
  sign,
  verifiedDevice,
}
