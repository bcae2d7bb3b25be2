-- loginguard's compare-and-set of one packed counter; the rules stay in the
-- library: this only replaces the value it read, atomically.
-- KEYS[1] the counter; KEYS[2] (account-owned keys only) the account's index set.
-- ARGV[1] the value read ('' = absent); ARGV[2] the new value ('' = delete);
-- ARGV[3] its TTL in ms; ARGV[4] the least TTL of the index set in ms.
-- Returns 1 when the new value is in place (a replay of this very write
-- included: every write carries a random nonce), else the current value.
local cur = redis.call('GET', KEYS[1]) or ''
if cur == ARGV[1] then
  if ARGV[2] == '' then
    if cur ~= '' then redis.call('DEL', KEYS[1]) end
  else
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    if KEYS[2] then
      redis.call('SADD', KEYS[2], KEYS[1])
      if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[4]) then
        redis.call('PEXPIRE', KEYS[2], ARGV[4])
      end
    end
  end
  return 1
elseif cur == ARGV[2] then
  return 1
end
return cur
