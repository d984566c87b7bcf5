--[[ Remove the marks of delete and update batches: reclaimed, purged, or never published.

For each batch, every point it marked loses that batch's tombstone or patch (other
batches' marks of the point stay). With guard '1', a batch still in the job's ledger
(``batches``) keeps its marks: an aborted enqueue forgets only the batches it dropped.
Returns how many batches' marks were removed.

KEYS
  tombs        hash: point id -> delete sequence numbers (comma-separated)
  patches      hash: point id -> patches (seq TAB json, one a line)
  index        sorted set of the index's batches with marks
  batches      hash of the job's batches (read only with guard '1')
  marked...    per batch, the point ids it marked
ARGV
  guard        '1': skip batches still listed in ``batches``
  seqs...      per batch, in the order of marked, its sequence number
]]
local removed = 0
for i = 0, #KEYS - marked do
  local seq = ARGV[seqs + i]
  local list = KEYS[marked + i]
  if guard ~= '1' or redis.call('HEXISTS', batches, seq) == 0 then
    local raw = redis.call('GET', list)
    if raw then
      local kind = nil
      for id in string.gmatch(raw, '[^\n]+') do
        if kind == nil then
          kind = id
        elseif kind == 'delete' then
          local kept = {}
          for s in string.gmatch(redis.call('HGET', tombs, id) or '', '[^,]+') do
            if s ~= seq then kept[#kept + 1] = s end
          end
          if #kept == 0 then redis.call('HDEL', tombs, id)
          else redis.call('HSET', tombs, id, table.concat(kept, ',')) end
        else
          local kept = {}
          for line in string.gmatch(redis.call('HGET', patches, id) or '', '[^\n]+') do
            if string.sub(line, 1, #seq + 1) ~= seq .. '\t' then kept[#kept + 1] = line end
          end
          if #kept == 0 then redis.call('HDEL', patches, id)
          else redis.call('HSET', patches, id, table.concat(kept, '\n')) end
        end
      end
      redis.call('DEL', list)
      removed = removed + 1
    end
    redis.call('ZREM', index, seq)
  end
end
return removed
