-- loginguard's site-wide window (see site.rs in store/redis): the window's
-- storage primitives on one hash; the rate, the trigger and when an attack
-- starts or ends stay in the library.
-- KEYS[1] the site key. Fields: s<0..59> and h<0..24> hold '<index>:<count>'
-- (a step's or an hour's), 'hot' the running attack's last hot step, 'since'
-- its start. ARGV[1] the operation, ARGV[2] the key's TTL in ms, then:
--   add  k slot h hour learn cap: one failure in step k (field s<slot>),
--        restarting a field that holds an older step; with learn = '1' and
--        no attack on, one in hour h too. Returns {the step field it
--        replaced ('' when none), HGETALL}.
--   back k slot h hour learn n: n failures off step k (and hour h, with
--        learn = '1' and no attack on), never below zero. Returns 1.
--   start hot since: starts an attack unless one is on. Returns 1 or 0.
--   raise hot: a later hot step for the running attack. Returns 1.
--   end hot: ends the attack if its hot step is still 'hot'. Returns 1, or
--        the hot step now ('' when none is on).
local key, op, ttl = KEYS[1], ARGV[1], ARGV[2]
local function split(v)
  if not v then return nil end
  local i, c = string.match(v, '^(%d+):(%d+)$')
  if not i then return nil end
  return i, tonumber(i), tonumber(c)
end
local function bump(field, at, by, cap)
  local si, i, c = split(redis.call('HGET', key, field))
  if i and i >= tonumber(at) then
    local n = c + by
    if n < 0 then n = 0 end
    if n > cap then n = math.max(c, cap) end
    if n ~= c then redis.call('HSET', key, field, si .. ':' .. n) end
    return false
  elseif by > 0 then
    local old = redis.call('HGET', key, field) or ''
    redis.call('HSET', key, field, at .. ':' .. by)
    return old
  end
  return false
end
if op == 'add' or op == 'back' then
  local by, cap = 1, tonumber(ARGV[8])
  if op == 'back' then by, cap = -tonumber(ARGV[8]), 268435455 end
  local learn = ARGV[7] == '1' and redis.call('HEXISTS', key, 'hot') == 0
  local lost = bump('s' .. ARGV[4], ARGV[3], by, cap)
  if learn then bump('h' .. ARGV[6], ARGV[5], by, cap) end
  redis.call('PEXPIRE', key, ttl)
  if op == 'back' then return 1 end
  return {lost or '', redis.call('HGETALL', key)}
elseif op == 'start' then
  if redis.call('HEXISTS', key, 'hot') == 1 then return 0 end
  redis.call('HSET', key, 'hot', ARGV[3], 'since', ARGV[4])
  redis.call('PEXPIRE', key, ttl)
  return 1
elseif op == 'raise' then
  local cur = redis.call('HGET', key, 'hot')
  if cur and tonumber(cur) < tonumber(ARGV[3]) then
    redis.call('HSET', key, 'hot', ARGV[3])
    redis.call('PEXPIRE', key, ttl)
  end
  return 1
elseif op == 'end' then
  local cur = redis.call('HGET', key, 'hot') or ''
  if cur ~= ARGV[3] then return cur end
  redis.call('HDEL', key, 'hot', 'since')
  return 1
end
return redis.error_reply('loginguard site: unknown operation')
