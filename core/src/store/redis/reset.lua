-- loginguard's reset_account: deletes every key in the account's index set
-- (its account, account_ip and device counters), the set, and the account
-- key, atomically. All of them share the account's hash tag (one slot).
-- KEYS[1] the index set; KEYS[2] the account counter.
local members = redis.call('SMEMBERS', KEYS[1])
for i = 1, #members do
  redis.call('DEL', members[i])
end
redis.call('DEL', KEYS[1], KEYS[2])
return #members
