'use strict'
// The loginguard Express example: a login page that posts to a JSON login API guarded by
// require('loginguard/express'), a password-reset flow, trusted-device cookies and a local
// test CAPTCHA speaking Cloudflare Turnstile's protocol. See README.md.
//
//   node examples/express-site/server.js     (after make build-node)
//
// Environment (all optional): PORT (3000), HOST (127.0.0.1), LOCAL_CAPTCHA_URL
// (http://127.0.0.1:8001), TURNSTILE_SITE_KEY / TURNSTILE_SECRET (use Turnstile itself),
// TRUST_PROXY (Express's 'trust proxy'; the browser tests play a proxy on loopback).

const path = require('node:path')
const { createRequire } = require('node:module')
const { createHmac, randomBytes, scryptSync, timingSafeEqual } = require('node:crypto')

// The binding built in this repository, and the express of its devDependencies.
const requireFromBinding = createRequire(path.join(__dirname, '..', '..', 'bindings-node', 'package.json'))
const express = requireFromBinding('express')
const { Guard } = requireFromBinding('loginguard')
const loginguard = requireFromBinding('loginguard/express')
const { refusalBody } = loginguard

const PORT = Number(process.env.PORT || 3000)
const HOST = process.env.HOST || '127.0.0.1'
const CAPTCHA_URL = (process.env.LOCAL_CAPTCHA_URL || 'http://127.0.0.1:8001').replace(/\/$/, '')
const TURNSTILE = process.env.TURNSTILE_SECRET
  ? {
      script: 'https://challenges.cloudflare.com/turnstile/v0/api.js',
      verify: 'https://challenges.cloudflare.com/turnstile/v0/siteverify',
      siteKey: process.env.TURNSTILE_SITE_KEY || '',
      secret: process.env.TURNSTILE_SECRET,
    }
  : {
      script: `${CAPTCHA_URL}/api.js`,
      verify: `${CAPTCHA_URL}/siteverify`,
      siteKey: 'local-test-site-key',
      secret: 'local-test-secret',
    }
const HOSTNAMES = new Set(['127.0.0.1', 'localhost'])
const SECRET = process.env.SESSION_SECRET || randomBytes(32)
const PASSWORD = 'correct horse battery staple'

// Users, as a database would hold them: scrypt hashes, never passwords.
function hashPassword(password) {
  const salt = randomBytes(16)
  return `${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`
}
function passwordMatches(stored, password) {
  const [salt, hash] = stored.split('$')
  return timingSafeEqual(scryptSync(password, Buffer.from(salt, 'base64'), 32), Buffer.from(hash, 'base64'))
}
const DUMMY_HASH = hashPassword(randomBytes(16).toString('hex'))
const users = new Map()
for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) {
  users.set(name, { email: `${name}@example.com`, hash: hashPassword(PASSWORD) })
}

// Sessions: a cookie `<account>.<HMAC>`.
function sessionCookie(account) {
  const mac = createHmac('sha256', SECRET).update(`session\0${account}`).digest('base64url')
  return `session=${encodeURIComponent(account)}.${mac}; Path=/; HttpOnly; SameSite=Lax`
}
function sessionAccount(req) {
  const match = /(?:^|;\s*)session=([^;]*)/.exec(req.headers.cookie || '')
  if (!match) return undefined
  const value = decodeURIComponent(match[1])
  const dot = value.lastIndexOf('.')
  const account = value.slice(0, dot)
  const expected = createHmac('sha256', SECRET).update(`session\0${account}`).digest('base64url')
  return dot > 0 && value.slice(dot + 1) === expected ? account : undefined
}

// The CAPTCHA: Turnstile's siteverify (secret, response, remoteip), here or at Cloudflare.
async function verifyCaptcha(req, { signal }) {
  const token = req.body['cf-turnstile-response']
  if (typeof token !== 'string' || token === '') return false
  const answer = await fetch(TURNSTILE.verify, {
    method: 'POST',
    body: new URLSearchParams({ secret: TURNSTILE.secret, response: token, remoteip: req.ip }),
    signal,
  })
  if (!answer.ok) return false
  const result = await answer.json()
  return result.success === true && HOSTNAMES.has(result.hostname)
}

const guard = Guard.fromPolicyFile(path.join(__dirname, 'loginguard.toml'))
const app = express()
if (process.env.TRUST_PROXY) app.set('trust proxy', process.env.TRUST_PROXY)

app.post(
  '/api/login',
  express.json(),
  loginguard({
    guard,
    // The account as the user table keys it, for unknown names too; anything but text is a 400.
    account: (req) => (typeof req.body?.username === 'string' ? req.body.username.trim().toLowerCase() : undefined),
    verifyCaptcha,
    deviceCookie: {
      secret: SECRET,
      name: 'device',
      maxAgeMs: 30 * 24 * 3600 * 1000,
      accountSecret: (account) => users.get(account)?.hash, // a new password revokes the cookies
    },
    passwordResetUrl: '/password-reset',
  }),
  (req, res) => {
    const { account } = req.loginguard
    const user = users.get(account)
    const password = typeof req.body.password === 'string' ? req.body.password : ''
    const matches = passwordMatches(user ? user.hash : DUMMY_HASH, password)
    if (user && matches) {
      req.loginguard.success() // records the success and sets the device cookie
      res.append('Set-Cookie', sessionCookie(account))
      return res.json({ ok: true, account })
    }
    const after = req.loginguard.failure()
    // The next step (null: just a wrong password), in the words the middleware refuses with.
    const next = refusalBody(after, { passwordResetUrl: '/password-reset' })
    res.status(401).json({ error: 'invalid_credentials', message: 'Wrong username or password.', next })
  },
)

app.get('/', (req, res) => {
  const account = sessionAccount(req)
  res.type('html').send(
    page(
      'loginguard Express example',
      account
        ? `<h1 id="welcome">Welcome, ${escapeHtml(account)}</h1>
           <p>You are logged in. This browser now holds a trusted-device cookie for <code>${escapeHtml(account)}</code>:
           an attack on the account will not lock you out of it here.</p>
           ${untrustedView(account, req.ip)}
           <form method="post" action="/logout"><button type="submit">Log out</button></form>`
        : `<h1>loginguard example site</h1><p><a href="/login">Log in</a> with a wrong password a few times to see what loginguard does.</p>`,
    ),
  )
})

// What a login to the account from this network, in a browser without this one's device
// cookie, would get now (inspect changes no counter).
function untrustedView(account, ip) {
  const { action, reason, failures } = guard.inspect({ account, ip }).decision
  const why = reason ? ` (reason ${reason}, ${failures} failures)` : ''
  return `<p class="notice" id="untrusted">A login to <code>${escapeHtml(account)}</code> from your network in a browser
    without this cookie would now get <strong>${action}</strong>${why}.</p>`
}

app.post('/logout', (req, res) => {
  res.append('Set-Cookie', 'session=; Path=/; Max-Age=0').redirect(303, '/')
})

app.get('/login', (req, res) => {
  res.type('html').send(page('Log in', LOGIN_PAGE.replace('SITE_KEY', escapeHtml(TURNSTILE.siteKey)).replace('CAPTCHA_SCRIPT', escapeHtml(TURNSTILE.script))))
})

// The password-reset flow: a one-time link by "mail" (the outbox page), then a new password,
// which unlocks the account (resetAccount) and revokes its device cookies (a new hash).
const resetTokens = new Map() // token -> { account, expires }
const outbox = []

app.get('/password-reset', (req, res) => {
  res.type('html').send(
    page(
      'Reset your password',
      `<h1>Reset your password</h1>
       <p class="notice" id="reset-required">Forgotten your password, or sent here after too many failed logins on
       your account? Set a new password to log in again: we will mail you a link.</p>
       <form method="post" action="/password-reset" id="reset-form">
         <p><label>Username <input type="text" name="username" required></label></p>
         <p><button type="submit">Send me the link</button></p>
       </form>`,
    ),
  )
})

app.post('/password-reset', express.urlencoded({ extended: false }), (req, res) => {
  const account = String(req.body.username || '').trim().toLowerCase()
  const user = users.get(account)
  if (user) {
    const token = randomBytes(24).toString('base64url')
    resetTokens.set(token, { account, expires: Date.now() + 3600 * 1000 })
    const link = `${req.protocol}://${req.get('host')}/password-reset/confirm?token=${token}`
    outbox.unshift({ to: user.email, subject: 'Reset your password', body: `Set a new password for ${account}:\n${link}\n` })
  }
  res.type('html').send(
    page(
      'Check your mail',
      `<h1 id="reset-sent">Check your mail</h1><p>If that account exists, a link to set a new password is on its way.
       In this example site, mails go to the <a href="/outbox" id="outbox-link">outbox</a>.</p>`,
    ),
  )
})

app.get('/outbox', (req, res) => {
  const mails = outbox
    .slice(0, 20)
    .map(
      (m) =>
        `<article class="mail"><h2>${escapeHtml(m.subject)}</h2><p>To: ${escapeHtml(m.to)}</p><pre>${escapeHtml(m.body).replace(/(https?:\/\/\S+)/g, '<a href="$1">$1</a>')}</pre></article>`,
    )
    .join('')
  res.type('html').send(page('Outbox', `<h1>Outbox</h1><p>The mails this site sent, newest first.</p>${mails || '<p>No mail yet.</p>'}`))
})

function liveResetToken(token) {
  const entry = typeof token === 'string' ? resetTokens.get(token) : undefined
  return entry && entry.expires > Date.now() ? entry : undefined
}

app.get('/password-reset/confirm', (req, res) => {
  const entry = liveResetToken(req.query.token)
  res.type('html').send(
    page(
      'Set a new password',
      entry
        ? `<h1>Set a new password</h1><p>For <code>${escapeHtml(entry.account)}</code>.</p>
           <form method="post" action="/password-reset/confirm" id="set-password-form">
             <input type="hidden" name="token" value="${escapeHtml(req.query.token)}">
             <p><label>New password <input type="password" name="password" minlength="8" required></label></p>
             <p><button type="submit">Set my password</button></p>
           </form>`
        : `<h1>This link has expired or was used already</h1><p><a href="/password-reset">Ask for a new one</a>.</p>`,
    ),
  )
})

app.post('/password-reset/confirm', express.urlencoded({ extended: false }), (req, res) => {
  const entry = liveResetToken(req.body.token)
  const password = typeof req.body.password === 'string' ? req.body.password : ''
  if (!entry || password.length < 8) return res.redirect(303, `/password-reset/confirm?token=${encodeURIComponent(String(req.body.token))}`)
  resetTokens.delete(req.body.token)
  users.get(entry.account).hash = hashPassword(password) // revokes the account's device cookies
  guard.resetAccount(entry.account) // a completed reset unlocks the account
  res.type('html').send(
    page(
      'Password set',
      `<h1 id="reset-complete">Your password is set</h1><p>Your account is unlocked: <a href="/login">log in</a> with the new password.</p>`,
    ),
  )
})

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; color: #222; }
  header { border-bottom: 1px solid #ddd; margin-bottom: 1.5em; display: flex; justify-content: space-between; }
  header a { color: #555; }
  input[type=text], input[type=password] { font-size: 1em; padding: .3em; width: 16em; }
  button { font-size: 1em; padding: .4em 1.2em; }
  .error { color: #b00020; }
  .notice { background: #fff4e5; border: 1px solid #f0b35a; padding: .8em 1em; border-radius: 4px; }
  #countdown { font-weight: bold; font-variant-numeric: tabular-nums; }
  pre { white-space: pre-wrap; background: #f5f5f5; padding: 1em; }
</style></head>
<body><header><strong>loginguard · Express example</strong><nav><a href="/login">Log in</a> · <a href="/outbox">Outbox</a></nav></header>
<main>${body}</main></body></html>`
}

// The login page: a form that posts JSON to /api/login and shows what the API answers.
const LOGIN_PAGE = `
<h1>Log in</h1>
<p class="error" id="login-error" hidden></p>
<form id="login-form">
  <p><label>Username <input type="text" name="username" autocomplete="username" required autofocus></label></p>
  <p><label>Password <input type="password" name="password" autocomplete="current-password" required></label></p>
  <div id="loginguard-challenge" hidden>
    <p id="challenge-why">There were several failed logins. Solve the CAPTCHA and enter your password again.</p>
    <div class="cf-turnstile" data-sitekey="SITE_KEY"></div>
  </div>
  <p><button type="submit">Log in</button></p>
</form>
<div id="loginguard-blocked" hidden>
  <h2>Login refused</h2>
  <p class="loginguard-message notice"></p>
  <p id="countdown-line">You can try again in <span id="countdown"></span>.</p>
  <p id="countdown-done" hidden><a href="/login">Try again now</a>.</p>
</div>
<p><a href="/password-reset">Forgot your password?</a></p>
<script src="CAPTCHA_SCRIPT" async defer></script>
<script>
  const form = document.getElementById('login-form')
  const error = document.getElementById('login-error')
  const challenge = document.getElementById('loginguard-challenge')
  const blocked = document.getElementById('loginguard-blocked')

  // The page's own words for the refusal's machine-readable reason (the countdown says when).
  const WHERE = {
    account: 'on this account',
    account_ip: 'on this account from your network',
    device: 'on this account on this device',
  }
  function minutes(seconds) {
    return seconds < 120 ? seconds + ' seconds' : Math.ceil(seconds / 60) + ' minutes'
  }
  // Counts Retry-After down to zero, then offers the form again.
  function countdown(seconds) {
    const el = document.getElementById('countdown')
    const end = Date.now() + seconds * 1000
    ;(function tick() {
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000))
      el.textContent = Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0')
      if (left === 0) document.getElementById('countdown-done').hidden = false
      else setTimeout(tick, 250)
    })()
  }
  function show(step, retryAfter) {
    if (step.error === 'challenge_required') {
      if (step.reason === 'site') document.getElementById('challenge-why').textContent = step.message
      challenge.hidden = false
    } else if (step.error === 'too_many_attempts') {
      const seconds = Number(retryAfter || step.retryAfterSeconds)
      blocked.querySelector('.loginguard-message').textContent = step.reason === 'ip' || step.reason === 'ip_range'
        ? 'Too many failed logins from your network. Try again in ' + minutes(seconds) + ', or from another network.'
        : 'Too many failed logins ' + WHERE[step.reason] + '. Try again in ' + minutes(seconds) + '.'
      form.hidden = true
      error.hidden = true
      blocked.hidden = false
      countdown(seconds)
    } else if (step.error === 'password_reset_required') {
      location.assign(step.resetUrl)
      return true
    } else {
      error.textContent = step.message
      error.hidden = false
    }
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const fields = Object.fromEntries(new FormData(form))
    const answer = await fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(fields),
    })
    const body = await answer.json()
    if (window.turnstile) window.turnstile.reset() // a token passes once
    form.password.value = ''
    if (body.ok) return location.assign('/')
    const leaving = show(body, answer.headers.get('Retry-After')) || (body.next && show(body.next))
    if (!leaving) document.body.dataset.answers = Number(document.body.dataset.answers || 0) + 1
  })
</script>`

app.listen(PORT, HOST, () => {
  console.log(`loginguard Express example on http://${HOST}:${PORT}/login (users alice, bob, carol, dave, erin; password "${PASSWORD}")`)
})
