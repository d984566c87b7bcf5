--[[ Record a look at the collection's optimizers; cut the limit while their backlog grows.

A backlog (points waiting in unoptimized segments, plus the update queue) larger than at
the last look, while the collection is not green, cuts the limit (once per ``cooldown``)
and stops its growth until a look finds the backlog no longer growing. Returns the limit.

KEYS
  pace         hash of the index's pace
ARGV
  backlog      points waiting for the optimizers
  status       the collection's status (green, yellow, grey, red)
  now          unix time
  lowest       the lowest limit
  decrease     factor of a cut
  cooldown     seconds between two cuts
]]
local t = tonumber(now)
local queued = tonumber(backlog)
local before = tonumber(redis.call('HGET', pace, 'backlog'))
local limit = tonumber(redis.call('HGET', pace, 'limit')) or tonumber(lowest)
local growing = before ~= nil and queued > before and status ~= 'green'
redis.call('HSET', pace, 'backlog', queued, 'status', status, 'probed_at', t,
           'growing', growing and '1' or '0')
if growing then
  local cut_at = tonumber(redis.call('HGET', pace, 'cut_at')) or 0
  if t - cut_at >= tonumber(cooldown) then
    limit = math.max(tonumber(lowest), limit * tonumber(decrease))
    redis.call('HSET', pace, 'limit', limit, 'cut_at', t)
    redis.call('HINCRBY', pace, 'cuts', 1)
  end
end
return tostring(limit)
