--[[ Leave the marks of a delete or metadata-update batch: its tombstones or patches.

Queued right behind stored.lua (the batch's ledger entry), so the marks exist before the
batch can be published, and only if that script took the batch (state 'stored'). A
tombstone refuses every write of the point older than the delete; a patch is merged into
any older write of the point that arrives later. Idempotent: a batch marks once.

KEYS
  batches      hash: sequence number -> batch state
  marks        hash of the kind's marks: point id -> its entries
  index        sorted set of the index's batches with marks, by seq
  marked       the point ids this batch marks (first line: its kind)
  version      counter bumped whenever marks are added
ARGV
  seq          the batch's sequence number
  kind         delete or update
  n            how many points
  values...    n point ids, then (an update) n patches as JSON
]]
if redis.call('HGET', batches, seq) ~= 'stored' then return 0 end
if redis.call('EXISTS', marked) == 1 then return 0 end
local count = tonumber(n)
local ids = {kind}
for i = 0, count - 1 do
  local id = ARGV[values + i]
  local entry = seq
  local sep = ','
  if kind == 'update' then
    entry = seq .. '\t' .. ARGV[values + count + i]
    sep = '\n'
  end
  local current = redis.call('HGET', marks, id)
  if current then entry = current .. sep .. entry end
  redis.call('HSET', marks, id, entry)
  ids[#ids + 1] = id
end
redis.call('SET', marked, table.concat(ids, '\n'))
redis.call('ZADD', index, seq, seq)
redis.call('INCR', version)
return 1
