// node examples/quickstart.js — the README's usage example, run by make test-node.
const { Guard, letsPasswordBeChecked } = require('loginguard')

const guard = new Guard({ policy: '[account]\nchallenge_after = 3\n', manualClock: true })
guard.on('event', (e) => console.log('event:', e.kind, e.dimension, e.failures))

const PASSWORDS = { alice: 'correct horse' }
function login(account, password, ip, challengePassed = false) {
  const decision = guard.begin({ account, ip, challengePassed })
  if (!letsPasswordBeChecked(decision, challengePassed)) return decision
  if (PASSWORDS[account] === password) {
    guard.recordSuccess({ account, ip, afterBegin: true })
    return 'logged in'
  }
  return 'wrong password' // begin already recorded the failure
}

for (let i = 0; i < 4; i++) console.log(login('alice', 'guess', '203.0.113.7'))
console.log(login('alice', 'correct horse', '203.0.113.7')) // a CAPTCHA first
console.log(login('alice', 'correct horse', '203.0.113.7', true))
console.log(guard.check({ account: 'alice', ip: '203.0.113.7' }))
