--[[ The oldest sequence number of an index that may still be written, and the newest handed out.

Returns {watermark, last}: the lowest score among the writes in flight and the dead letters
a replay may still write, or last + 1 when there are none. Every mark older than the
watermark can be reclaimed once no writer that fetched an older batch can still be running.

KEYS
  open         sorted set of the index's writes in flight
  held         sorted set of the index's dead-lettered batches
  sequence     the index's sequence counter
]]
local last = tonumber(redis.call('GET', sequence) or '0')
local low = last + 1
for _, key in ipairs({open, held}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) < low then low = tonumber(first[2]) end
end
return {low, last}
