-- Apply one batch atomically: refuse a generation that is neither serving nor building, fence
-- by epoch, skip if already applied, then every write, then the partition's next offset.
-- ARGV[1] is a JSON list of strings built by streams/processor.py (Commit.argv): a header,
-- then (op, count, args...) sections. first = -1: no offset check (held-event sweeps);
-- first = -2: set the stored offset to nxt whatever it was (the broker came back empty).
-- fp: the fingerprint of the record before nxt (Record.fingerprint), '' for none.
local A = cjson.decode(ARGV[1])
local tp, epoch, first, nxt, expected = A[1], A[2], tonumber(A[3]), tonumber(A[4]), A[5]
local offkey, epkey, genkey, gen, fpkey, fp = A[6], A[7], A[8], A[9], A[10], A[11]

local g = redis.call('HMGET', genkey, 'serving', 'building')
if gen ~= (g[1] or '1') and gen ~= g[2] then return 'retired' end
local cur_epoch = redis.call('HGET', epkey, tp)
if not cur_epoch then return 'wiped' end
if cur_epoch ~= epoch then return 'fenced' end
if first >= 0 then
  local stored = redis.call('HGET', offkey, tp)
  if not stored then
    if expected ~= '' then return 'wiped' end
  elseif tonumber(stored) > first then
    return 'stale'
  end
end

-- badge-table vectors: TABLE_VECTOR little-endian int32s (schemas/layout.py)
local VLEN = 25
local VFMT = '<' .. string.rep('i4', VLEN)

local i = 12
local n = #A
while i <= n do
  local op, cnt = A[i], tonumber(A[i + 1])
  i = i + 2
  if op == 'K' then
    -- counters: key, field count, then (field, n) pairs, already rolled up by the worker
    for _ = 1, cnt do
      local key, nf = A[i], tonumber(A[i + 1])
      i = i + 2
      for j = 0, nf - 1 do
        redis.call('HINCRBY', key, A[i + 2 * j], A[i + 2 * j + 1])
      end
      i = i + 2 * nf
    end
  elseif op == 'T' then
    -- badge-table vectors: key, field, nonzero count, then (index, delta) pairs
    for _ = 1, cnt do
      local key, f, nz = A[i], A[i + 1], tonumber(A[i + 2])
      i = i + 3
      local old = redis.call('HGET', key, f)
      local v
      if old then
        v = {struct.unpack(VFMT, old)}
        v[VLEN + 1] = nil
      else
        v = {}
        for j = 1, VLEN do v[j] = 0 end
      end
      for j = 0, nz - 1 do
        local idx = tonumber(A[i + 2 * j]) + 1
        v[idx] = v[idx] + tonumber(A[i + 2 * j + 1])
      end
      redis.call('HSET', key, f, struct.pack(VFMT, unpack(v)))
      i = i + 2 * nz
    end
  elseif op == 'M' then
    -- dedup marks: key, id count, ids; one variadic HSET per 2,000 ids
    for _ = 1, cnt do
      local key, nids = A[i], tonumber(A[i + 1])
      i = i + 2
      local args = {}
      for j = 0, nids - 1 do
        args[#args + 1] = A[i + j]
        args[#args + 1] = '1'
        if #args >= 4000 then redis.call('HSET', key, unpack(args)); args = {} end
      end
      if #args > 0 then redis.call('HSET', key, unpack(args)) end
      i = i + nids
    end
  elseif op == 'I' then
    for _ = 1, cnt do redis.call('HINCRBY', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == 'S' then
    for _ = 1, cnt do redis.call('SET', A[i], A[i + 1]); i = i + 2 end
  elseif op == 'H' then
    for _ = 1, cnt do redis.call('HSET', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == 'N' then
    for _ = 1, cnt do redis.call('HSETNX', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == 'E' then
    for _ = 1, cnt do redis.call('EXPIRE', A[i], A[i + 1]); i = i + 2 end
  elseif op == 'A' then
    for _ = 1, cnt do redis.call('APPEND', A[i], A[i + 1]); i = i + 2 end
  elseif op == 'R' then
    for _ = 1, cnt do redis.call('RPUSH', A[i], A[i + 1]); i = i + 2 end
  elseif op == 'D' then
    for _ = 1, cnt do redis.call('DEL', A[i]); i = i + 1 end
  elseif op == 'Z' then
    for _ = 1, cnt do redis.call('ZADD', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == 'X' then
    for _ = 1, cnt do redis.call('ZREM', A[i], A[i + 1]); i = i + 2 end
  elseif op == 'U' then
    for _ = 1, cnt do redis.call('SADD', A[i], A[i + 1]); i = i + 2 end
  elseif op == '<' then
    for _ = 1, cnt do
      local old = redis.call('HGET', A[i], A[i + 1])
      if (not old) or A[i + 2] < old then redis.call('HSET', A[i], A[i + 1], A[i + 2]) end
      i = i + 3
    end
  elseif op == '>' then
    for _ = 1, cnt do
      local old = redis.call('HGET', A[i], A[i + 1])
      if (not old) or tonumber(A[i + 2]) > tonumber(old) then
        redis.call('HSET', A[i], A[i + 1], A[i + 2])
      end
      i = i + 3
    end
  elseif op == 'P' then
    for _ = 1, cnt do redis.call('PUBLISH', A[i], A[i + 1]); i = i + 2 end
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
end
if nxt >= 0 then
  redis.call('HSET', offkey, tp, A[4])
  if fp == '' then redis.call('HDEL', fpkey, tp) else redis.call('HSET', fpkey, tp, fp) end
end
return 'ok'
