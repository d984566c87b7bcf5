--[[ Take a lease: when no one holds it, or when it is held by ``stale`` (a holder known to
be gone); 1 if taken, else 0. Held for ``ms`` milliseconds unless renewed.

KEYS
  lease        the lease's key
ARGV
  token        the new holder's token
  ms           how long the lease lasts
  stale        the token of a holder known to be gone ('' for none)
]]
local held = redis.call('GET', lease)
if held and held ~= stale then return 0 end
redis.call('SET', lease, token, 'PX', ms)
return 1
