--[[ Give back a request slot and move the index's limit by how the request went (AIMD).

``throttled`` (Qdrant refused for load: 429 or RESOURCE_EXHAUSTED) multiplies the limit by
``decrease``, at most once per ``cooldown``: every worker sees one overload at once, and it
must cost one cut, not one per worker. ``ok`` feeds the latency (ms per point) into a moving
average and a floor that rises slowly toward it; an average above ``factor`` times the
floor is an overload too. Otherwise the limit grows by 1/limit (one more slot per limit's
worth of good requests), unless the collection's optimizer backlog is growing (``growing``,
set by pace_backlog). ``error`` gives no signal: only the slot is given back.
Returns the new limit as text.

KEYS
  pace         hash of the index's pace
  slots        sorted set of the slots held
ARGV
  token        the request's slot token
  now          unix time
  outcome      ok, throttled or error
  latency      ms per point of the request ('' for no sample)
  lowest       the lowest limit
  highest      the highest limit
  decrease     factor of a cut
  factor       latency average over floor that counts as an overload
  cooldown     seconds between two cuts
]]
redis.call('ZREM', slots, token)
local t = tonumber(now)
local limit = tonumber(redis.call('HGET', pace, 'limit')) or tonumber(lowest)
local cut_at = tonumber(redis.call('HGET', pace, 'cut_at')) or 0
local cut = false
if outcome == 'throttled' then
  redis.call('HINCRBY', pace, 'throttles', 1)
  cut = true
elseif outcome == 'ok' then
  local grow = redis.call('HGET', pace, 'growing') ~= '1'
  if latency ~= '' then
    local sample = tonumber(latency)
    local avg = tonumber(redis.call('HGET', pace, 'latency')) or sample
    avg = avg * 0.8 + sample * 0.2
    local floor = tonumber(redis.call('HGET', pace, 'floor')) or sample
    -- The floor follows the best latency at once and a worse one slowly, so a server that
    -- became slower for good gets a new baseline instead of cuts forever.
    floor = math.min(sample, floor + (avg - floor) * 0.01)
    redis.call('HSET', pace, 'latency', avg, 'floor', floor)
    if avg > floor * tonumber(factor) then
      cut = true
      grow = false
    end
  end
  if grow and not cut then
    limit = math.min(tonumber(highest), limit + 1 / limit)
  end
end
if cut and t - cut_at >= tonumber(cooldown) then
  limit = math.max(tonumber(lowest), limit * tonumber(decrease))
  redis.call('HSET', pace, 'cut_at', t)
  redis.call('HINCRBY', pace, 'cuts', 1)
end
redis.call('HSET', pace, 'limit', limit, 'updated_at', t)
return tostring(limit)
