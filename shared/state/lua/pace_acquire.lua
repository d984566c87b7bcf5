--[[ Take one of an index's request slots, fleet-wide, if fewer than its limit are held.

Returns {1 or 0 (taken or not), the limit as text, slots held}. Slots whose lease ran out
(a worker that died holding one) are dropped first. An index with no pace yet starts at
``initial``.

KEYS
  pace         hash of the index's pace (limit, latency, backlog, rate, ...)
  slots        sorted set of the slots held: token -> lease expiry
ARGV
  token        this request's slot token
  now          unix time
  lease        seconds a slot is held at most
  initial      the limit of an index with no pace yet
]]
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local limit = tonumber(redis.call('HGET', pace, 'limit'))
if not limit then
  limit = tonumber(initial)
  redis.call('HSET', pace, 'limit', limit)
end
local held = redis.call('ZCARD', slots)
if held < math.max(1, math.floor(limit)) then
  redis.call('ZADD', slots, tonumber(now) + tonumber(lease), token)
  return {1, tostring(limit), held + 1}
end
return {0, tostring(limit), held}
