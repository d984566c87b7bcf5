--[[ Record a batch whose blob was just stored; return the index's new in-flight bytes.

Queued right behind the blob's SET, which carries an orphan expiry: this makes the blob
permanent, so only a blob whose ledger entry never got written expires.

KEYS
  batches      hash: sequence number -> batch state
  pending      sorted set of unsettled batches
  inflight     counter of the index's in-flight bytes
  blob         the batch's blob
ARGV
  seq          the batch's sequence number
  ttl          seconds the job's ledger lives
  member       the batch's member in the pending set
  now          unix time
  size         the batch's in-flight bytes
]]
redis.call('HSET', batches, seq, 'stored')
redis.call('EXPIRE', batches, ttl)
redis.call('ZADD', pending, now, member)
redis.call('PERSIST', blob)
return redis.call('INCRBY', inflight, size)
