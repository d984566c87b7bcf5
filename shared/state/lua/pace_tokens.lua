--[[ Reserve ``points`` of an index's write budget (``rate`` points/s, a shared token bucket).

Returns the seconds the caller must wait before sending, as text ('0' with no rate set,
or while the bucket holds enough). The bucket holds at most ``burst`` seconds of budget
and may go into debt: each reservation is served in turn, and the debt is the queue.

KEYS
  pace         hash of the index's pace (its rate, tokens and their time)
ARGV
  points       points the request writes
  now          unix time
  burst        seconds of budget the bucket holds at most
]]
local rate = tonumber(redis.call('HGET', pace, 'rate'))
if not rate or rate <= 0 then
  return '0'
end
local t = tonumber(now)
local full = rate * tonumber(burst)
local tokens = tonumber(redis.call('HGET', pace, 'tokens')) or full
local stamp = tonumber(redis.call('HGET', pace, 'stamp')) or t
tokens = math.min(full, tokens + math.max(0, t - stamp) * rate) - tonumber(points)
redis.call('HSET', pace, 'tokens', tokens, 'stamp', t)
if tokens >= 0 then
  return '0'
end
return tostring(-tokens / rate)
