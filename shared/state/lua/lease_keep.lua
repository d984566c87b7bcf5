--[[ Renew (``ms`` > 0) or give back (``ms`` = 0) a lease, if ``token`` still holds it;
1 if it did, else 0.

KEYS
  lease        the lease's key
ARGV
  token        the holder's token
  ms           how long the lease lasts from now; 0 gives it back
]]
if redis.call('GET', lease) ~= token then return 0 end
if tonumber(ms) > 0 then
  redis.call('PEXPIRE', lease, ms)
else
  redis.call('DEL', lease)
end
return 1
