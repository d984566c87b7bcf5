--[[ Record that a stored batch's message reached the broker (stored -> queued).

A worker may settle a batch before its publish is confirmed; a settled batch stays settled.

KEYS
  batches      hash: sequence number -> batch state
ARGV
  seq          the batch's sequence number
]]
if redis.call('HGET', batches, seq) == 'stored' then
  redis.call('HSET', batches, seq, 'queued')
end
return 1
