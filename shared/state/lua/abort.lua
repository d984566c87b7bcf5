--[[ End an interrupted enqueue: forget the batches never published; return how many.

Afterwards the job's batches (and its total) are exactly the ones enqueued, so it can
finish when they settle; if they all have, it finishes now. Returns -1, changing nothing,
if the fleet already finished the job's enqueue (finalize.lua: the producer's lease had
lapsed), which then keeps every stored batch.

KEYS
  job          hash of the job's totals
  batches      hash: sequence number -> batch state
  done         list pushed once when the job's last batch settles
  inflight     counter of the index's in-flight bytes
  enqueuing    sorted set of jobs still being enqueued
  lease        the producer's lease on the job
  open         sorted set of the index's writes that may still arrive
  blobs...     the blob of each batch never published
ARGV
  now          unix time
  reason       why the enqueue stopped
  enqueued     how many ids were enqueued
  job_id       the job's id
  unpublished... per batch never published, in the order of blobs: its seq and size
]]
if redis.call('HGET', job, 'enqueued') == '1' then return -1 end
local dropped = 0
for i = 0, #KEYS - blobs do
  local blob = KEYS[blobs + i]
  local seq, size = ARGV[unpublished + 2 * i], ARGV[unpublished + 2 * i + 1]
  -- Never published, so nothing refers to the blob, stored or not (a SET can apply
  -- while the ledger script behind it is refused).
  redis.call('DEL', blob)
  if redis.call('HGET', batches, seq) == 'stored' then
    redis.call('HDEL', batches, seq)
    redis.call('ZREM', open, 'b:' .. seq)
    if redis.call('DECRBY', inflight, size) < 0 then redis.call('SET', inflight, 0) end
    dropped = dropped + 1
  end
end
local count = redis.call('HLEN', batches)
redis.call('HSET', job, 'batches', count, 'total', enqueued, 'enqueued', 1,
           'aborted', reason, 'updated_at', now)
redis.call('ZREM', enqueuing, job_id)
redis.call('ZREM', open, 'j:' .. job_id)
redis.call('DEL', lease)
if tonumber(redis.call('HGET', job, 'settled')) >= count then
  redis.call('HSET', job, 'finished_at', now)
  redis.call('RPUSH', done, '1')
end
return dropped
