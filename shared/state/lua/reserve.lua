--[[ Reserve a job's sequence numbers; they count as in flight until its enqueue ends.

Returns the last of the ``n`` numbers reserved. The job joins the index's open set,
scored by its first number, in the same step, so no moment exists where a number is
handed out but a reader of the open set could think everything older is written.

KEYS
  sequence     the index's sequence counter
  open         sorted set of the index's writes that may still arrive
ARGV
  n            how many numbers to reserve (at least 1)
  member       the job's member in the open set (j:{job})
]]
local last = redis.call('INCRBY', sequence, n)
redis.call('ZADD', open, last - tonumber(n) + 1, member)
return last
