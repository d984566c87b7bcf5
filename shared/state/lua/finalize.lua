--[[ Finish the enqueue of a job whose producer stopped (its lease lapsed) without doing so.

The producer died, or lost Redis, part-way through an upsert. Every batch Redis holds for
the job (stored, queued or settled) stays in it: the job's batches and total become those,
and it finishes when they settle (now, if they all have). Returns the references of the
batches stored but not known to be published, for the caller to publish (publishing one
twice is harmless); nil, changing nothing, while the lease holds or if the job's enqueue is
already finished.

KEYS
  job          hash of the job's totals
  batches      hash: sequence number -> batch state
  refs         hash: sequence number -> the batch's reference
  done         list pushed once when the job's last batch settles
  enqueuing    sorted set of jobs still being enqueued
  lease        the producer's lease on the job
  open         sorted set of the index's writes that may still arrive
ARGV
  job_id       the job's id
  now          unix time
  reason       why the fleet finished the enqueue
  ttl          seconds a finished job's ledger stays readable
]]
if redis.call('EXISTS', lease) == 1 then return false end
if redis.call('HGET', job, 'enqueued') ~= '0' then
  redis.call('ZREM', enqueuing, job_id)
  redis.call('ZREM', open, 'j:' .. job_id)
  return false
end
local count = redis.call('HLEN', batches)
local total = tonumber(redis.call('HGET', job, 'stored_points') or '0')
redis.call('HSET', job, 'batches', count, 'total', total, 'enqueued', 1, 'aborted', reason,
           'updated_at', now)
redis.call('ZREM', enqueuing, job_id)
redis.call('ZREM', open, 'j:' .. job_id)
if tonumber(redis.call('HGET', job, 'settled')) >= count then
  redis.call('HSET', job, 'finished_at', now)
  redis.call('RPUSH', done, '1')
  for _, key in ipairs({job, batches, refs, done}) do redis.call('EXPIRE', key, ttl) end
end
local unpublished = {}
local states = redis.call('HGETALL', batches)
for i = 1, #states, 2 do
  if states[i + 1] == 'stored' then
    table.insert(unpublished, redis.call('HGET', refs, states[i]))
  end
end
return unpublished
