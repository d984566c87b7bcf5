--[[ Settle one batch exactly once (done, or failed with its dead letter); 0 if settled before.

Updates the job's counts, records failure records, moves the blob to the dead-letter queue
(or drops it), frees the index's in-flight bytes, takes the batch out of the index's writes
in flight (a dead-lettered one stays among those a replay may write) and, on the job's
last batch, stamps the
finish time, wakes every waiter and starts the ledger's expiry.

KEYS
  job          hash of the job's totals
  batches      hash: sequence number -> batch state
  failures     list of the job's failure records (JSON)
  done         list pushed once when the job's last batch settles
  blob         the batch's blob
  inflight     counter of the index's in-flight bytes
  dlq          the dead-letter stream
  dlq_blob     where a dead-lettered batch's blob is kept
  pending      sorted set of unsettled batches
  holders      hash: pending member -> the worker processing it
  open         sorted set of the index's writes that may still arrive
  held         sorted set of the index's dead-lettered batches
  settled      counter of the batches every worker settled (the fleet's progress)
ARGV
  seq          the batch's sequence number
  n_written    points written
  n_failed     points that failed
  now          unix time
  ttl          seconds a finished job's ledger stays readable
  size         the batch's in-flight bytes
  dead_blob    a blob of only the failed points ('' keeps the whole batch's blob)
  member       the batch's member in the pending set
  n_records    how many failure records come first in extra
  extra...     n_records failure records, then the dead letter's field/value pairs (if any)
]]
redis.call('ZREM', pending, member)
redis.call('HDEL', holders, member)
redis.call('ZREM', open, 'b:' .. seq)
local state = redis.call('HGET', batches, seq)
if state ~= 'queued' and state ~= 'stored' then return 0 end
redis.call('INCR', settled)
if tonumber(n_failed) > 0 then
  redis.call('HSET', batches, seq, 'failed')
else
  redis.call('HSET', batches, seq, 'done')
end
redis.call('HINCRBY', job, 'written', n_written)
redis.call('HINCRBY', job, 'failed', n_failed)
local records = tonumber(n_records)
for i = 0, records - 1 do redis.call('RPUSH', failures, ARGV[extra + i]) end
local letter_at = extra + records
if #ARGV >= letter_at then
  if dead_blob ~= '' then
    redis.call('SET', dlq_blob, dead_blob)
    redis.call('DEL', blob)
  elseif redis.call('EXISTS', blob) == 1 then
    redis.call('RENAME', blob, dlq_blob)
    redis.call('PERSIST', dlq_blob)
  end
  redis.call('XADD', dlq, '*', unpack(ARGV, letter_at))
  -- A replay may still write it: what orders its points must outlive it.
  redis.call('ZADD', held, seq, 'b:' .. seq)
else
  redis.call('DEL', blob)
end
if redis.call('DECRBY', inflight, size) < 0 then redis.call('SET', inflight, 0) end
redis.call('HSET', job, 'updated_at', now)
local settled = redis.call('HINCRBY', job, 'settled', 1)
if settled == tonumber(redis.call('HGET', job, 'batches')) then
  redis.call('HSET', job, 'finished_at', now)
  redis.call('RPUSH', done, '1')
  for _, key in ipairs({job, batches, failures, done}) do redis.call('EXPIRE', key, ttl) end
end
return 1
