--[[ Record a batch whose blob was just stored; return the index's new in-flight bytes.

Queued right behind the blob's SET, which carries an orphan expiry: this makes the blob
permanent, so only a blob whose ledger entry never got written expires. It also renews
the producer's lease on the job, and keeps the batch's reference, so that if the producer
stops before it finishes, the fleet can finish the job and deliver what was stored. A job
the fleet finished already (its producer's lease had lapsed) takes no more batches.

KEYS
  batches      hash: sequence number -> batch state
  pending      sorted set of unsettled batches
  inflight     counter of the index's in-flight bytes
  blob         the batch's blob
  job          hash of the job's totals
  refs         hash: sequence number -> the batch's reference (its pending member)
  lease        the producer's lease on the job
  open         sorted set of the index's writes that may still arrive
ARGV
  seq          the batch's sequence number
  ttl          seconds the job's ledger lives
  member       the batch's member in the pending set
  now          unix time
  size         the batch's in-flight bytes
  points       how many points the batch holds
  lease_ms     how long the lease lasts from now, in milliseconds
]]
if redis.call('HGET', job, 'enqueued') == '1' then
  return redis.error_reply('VECQ_FINISHED the job was finished without this producer')
end
redis.call('HSET', batches, seq, 'stored')
redis.call('EXPIRE', batches, ttl)
redis.call('HSET', refs, seq, member)
redis.call('EXPIRE', refs, ttl)
redis.call('HINCRBY', job, 'stored_points', points)
redis.call('ZADD', pending, now, member)
redis.call('ZADD', open, seq, 'b:' .. seq)
redis.call('PERSIST', blob)
redis.call('SET', lease, '1', 'PX', lease_ms)
return redis.call('INCRBY', inflight, size)
