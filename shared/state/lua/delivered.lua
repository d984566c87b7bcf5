--[[ Count one more delivery of a batch and record its holder; return {deliveries, first time}.

KEYS
  attempts     hash: seq -> deliveries, and seq:first -> first delivery time
  job          hash of the job's totals
  pending      sorted set of unsettled batches
  holders      hash: pending member -> the worker processing it
ARGV
  seq          the batch's sequence number
  now          unix time
  ttl          seconds the attempts hash lives
  member       the batch's member in the pending set
  worker       the id of the worker taking the batch
]]
redis.call('ZADD', pending, 'XX', now, member)
redis.call('HSET', holders, member, worker)
local n = redis.call('HINCRBY', attempts, seq, 1)
redis.call('HSETNX', attempts, seq .. ':first', now)
redis.call('EXPIRE', attempts, ttl)
if n > 1 then redis.call('HSET', job, 'updated_at', now) end
return {n, redis.call('HGET', attempts, seq .. ':first')}
