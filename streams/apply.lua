-- Apply one commit atomically. Partition mode (Header.mode 'p', the control slot): refuse a
-- generation that is neither serving nor building, fence by epoch, skip a batch already
-- applied, then every write, then the partition's next offset and the fingerprint of the
-- record before it. Org mode ('o', one org's slot, docs/cluster.md): refuse if the org's
-- position for the partition holds a newer epoch (fenced) or another write count than the
-- one the worker read (stale), then every write, then the position: epoch, write count and
-- the partition's next offset (with the partition's incarnation).
-- KEYS name every key written (Redis Cluster routes by them; the script reads ARGV[1]).
-- ARGV[1] is the MessagePack array built by streams/protocol.py (encode): the header's
-- slots, then (op, count, rows...) sections (counts and table rows' numbers integers, the
-- rest strings); STATE values are ARGV[2...], named by position. Header.first = UNCHECKED:
-- no offset check and none stored (held-event sweeps); FORCED: store `next` whatever was
-- stored (the broker came back empty). The names in capitals (VLEN, SLOT, OP, RESULT, ...)
-- are rendered in below from streams/protocol.py, which owns them.
--@constants

local call = redis.call  -- a local: no global and field lookup per call (~4 per event)
local A = cmsgpack.unpack(ARGV[1])
local tp, epoch, expected = A[SLOT.partition], A[SLOT.epoch], A[SLOT.expected]
local first, nxt = tonumber(A[SLOT.first]), tonumber(A[SLOT.next])
local offkey, epkey, fpkey, fp = A[SLOT.offsets], A[SLOT.epochs], A[SLOT.fingerprints],
  A[SLOT.fingerprint]
local genkey, gen = A[SLOT.generations], A[SLOT.generation]
local org_mode = A[SLOT.mode] == 'o'

-- A script error does not undo the writes before it: refuse a malformed call before any.
if #ARGV ~= 1 + tonumber(A[SLOT.blobs]) then
  return redis.error_reply('expected ' .. A[SLOT.blobs] .. ' binary values, got ' .. (#ARGV - 1))
end

local written
if org_mode then
  -- offkey is the org's position hash (schemas/layout.py position_fields): epoch, writes, next
  local pos = call('HMGET', offkey, POS.epoch .. tp, POS.writes .. tp)
  if pos[1] and tonumber(pos[1]) > tonumber(epoch) then return RESULT.FENCED end
  if (pos[2] or '') ~= expected then return RESULT.STALE end
  written = tonumber(pos[2] or '0') + 1
else
local g = call('HMGET', genkey, 'serving', 'building')
if gen ~= (g[1] or '1') and gen ~= g[2] then return RESULT.RETIRED end
local cur_epoch = call('HGET', epkey, tp)
if not cur_epoch then return RESULT.WIPED end
-- An epoch older than ours, or an offset other than the one we last stored: Redis went back
-- in time (restarted from an older append-only file, restored from a backup). Claim afresh.
if tonumber(cur_epoch) < tonumber(epoch) then return RESULT.WIPED end
if cur_epoch ~= epoch then return RESULT.FENCED end
if first ~= UNCHECKED and first ~= FORCED and first ~= REWIND then
  local stored = call('HGET', offkey, tp)
  if not stored then
    if expected ~= '' then return RESULT.WIPED end
  elseif tonumber(stored) > first then
    return RESULT.STALE
  elseif expected ~= '' and stored ~= expected then
    return RESULT.WIPED
  end
end
end

-- badge-table vectors: up to VLEN little-endian int32s, trailing zeros not stored
-- (schemas/layout.py TABLE_VECTOR)
local VFMT_OF = {}  -- the format of a vector of k int32s, k = 1..VLEN
for k = 1, VLEN do VFMT_OF[k] = '<' .. string.rep('i4', k) end

local i = OPS_START
local n = #A
-- CLAIM comes first: every claimed field must be absent or hold its value already, or
-- nothing is written (streams/state.py: a digest naming two pairs).
if A[i] == OP.CLAIM then
  local cnt = tonumber(A[i + 1])
  for j = 0, cnt - 1 do
    local k = i + 2 + 3 * j
    local have = call('HGET', A[k], A[k + 1])
    if have and have ~= A[k + 2] then return RESULT.COLLISION end
  end
end
while i <= n do
  local op, cnt = A[i], tonumber(A[i + 1])
  i = i + 2
  if op == OP.COUNTERS then
    -- counters: key, field count, then (field, n) pairs, already rolled up by the worker
    for _ = 1, cnt do
      local key, nf = A[i], tonumber(A[i + 1])
      i = i + 2
      for j = 0, nf - 1 do
        call('HINCRBY', key, A[i + 2 * j], A[i + 2 * j + 1])
      end
      i = i + 2 * nf
    end
  elseif op == OP.PACKED then
    -- an entity's counters in a bucket: key, field, count, then (count's field, delta)
    -- pairs, added into the field's map (MessagePack); a count at 0 goes, and the field
    -- with the last one
    for _ = 1, cnt do
      local key, f, nf = A[i], A[i + 1], tonumber(A[i + 2])
      i = i + 3
      local old = call('HGET', key, f)
      local m = (old and #old > 0) and cmsgpack.unpack(old) or {}
      for j = 0, nf - 1 do
        local c = A[i + 2 * j]
        local v = (m[c] or 0) + A[i + 2 * j + 1]
        if v == 0 then m[c] = nil else m[c] = v end
      end
      if next(m) == nil then call('HDEL', key, f) else call('HSET', key, f, cmsgpack.pack(m)) end
      i = i + 2 * nf
    end
  elseif op == OP.LAYOUT then
    -- an org's counter layout, once: 'mixed' if its legacy all-time hash exists
    for _ = 1, cnt do
      if call('HEXISTS', A[i], LAYOUT.field) == 0 then
        local mixed = call('EXISTS', A[i + 1]) == 1
        call('HSET', A[i], LAYOUT.field, mixed and LAYOUT.mixed or LAYOUT.packed)
      end
      i = i + 2
    end
  elseif op == OP.TABLE then
    -- badge-table vectors: key, field, nonzero count, then (index, delta) pairs. Stored
    -- without their trailing zeros (a day's vector of awards alone ends in 9 of them);
    -- one written whole before reads the same
    for _ = 1, cnt do
      local key, f, nz = A[i], A[i + 1], tonumber(A[i + 2])
      i = i + 3
      local old = call('HGET', key, f)
      local v, have = {}, 0
      if old and #old > 0 then
        have = #old / 4
        v = {struct.unpack(VFMT_OF[have], old)}
      end
      for j = have + 1, VLEN + 1 do v[j] = 0 end  -- VLEN + 1: unpack's next position
      for j = 0, nz - 1 do
        local idx = tonumber(A[i + 2 * j]) + 1
        v[idx] = v[idx] + tonumber(A[i + 2 * j + 1])
      end
      local last = VLEN
      while last > 0 and v[last] == 0 do last = last - 1 end
      call('HSET', key, f, last > 0 and struct.pack(VFMT_OF[last], unpack(v, 1, last)) or '')
      i = i + 2 * nz
    end
  elseif op == OP.DEDUP then
    -- dedup marks, per org-day (schemas/layout.py DEDUP_ONE_SET): its one set, seconds to
    -- keep, the one set's room (sentinels included), count, the marks' bucket digits, then
    -- the marks. In the one set while they fit in it with room left for DEDUP.SPLIT; else
    -- DEDUP.SPLIT goes in (the marks there stay) and they go to their buckets.
    for _ = 1, cnt do
      local one, ttl, room, nids, bs = A[i], A[i + 1], tonumber(A[i + 2]), tonumber(A[i + 3]),
        A[i + 4]
      i = i + 5
      local is = call('SMISMEMBER', one, DEDUP.ONE, DEDUP.SPLIT)
      local split = dedup_split(one, is)
      if not split then
        local fresh = is[1] == 0  -- a new day: DEDUP.ONE goes in with its first marks
        if call('SCARD', one) + nids + (fresh and 1 or 0) + 1 <= room then
          if fresh then call('SADD', one, DEDUP.ONE) end
          call('SADD', one, unpack(A, i, i + nids - 1))  -- nids < room <= 2048
        else
          split = true
        end
      end
      if split then
        if is[2] == 0 then call('SADD', one, DEDUP.SPLIT) end
        for _, bucket in ipairs(dedup_by_bucket(one, bs, nids)) do
          local key, js, t = bucket[1], bucket[2], {}
          for k = 1, #js do t[k] = A[i + js[k] - 1] end
          for s = 1, #t, 4000 do call('SADD', key, unpack(t, s, math.min(s + 3999, #t))) end
          call('EXPIRE', key, ttl)
        end
      end
      call('EXPIRE', one, ttl)
      i = i + nids
    end
  elseif op == OP.UNDEDUP then
    for _ = 1, cnt do call('SREM', A[i], A[i + 1]); i = i + 2 end
  elseif op == OP.HINCRBY then
    for _ = 1, cnt do call('HINCRBY', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == OP.STATE then
    for _ = 1, cnt do call('HSET', A[i], A[i + 1], ARGV[tonumber(A[i + 2])]); i = i + 3 end
  elseif op == OP.HSET then
    for _ = 1, cnt do call('HSET', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == OP.CLAIM or op == OP.HSETNX then  -- a claim, checked above, is set if absent
    for _ = 1, cnt do call('HSETNX', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == OP.LIFETIME then
    -- `_gen`: this Redis process's run_id (a restart, empty or from an older snapshot,
    -- changes it) and the token of the commit that found it absent or another's. Where
    -- INFO is denied (an ACL), renamed or has no run_id: set once, as HSETNX (a restart
    -- from an older snapshot is then not told apart; README)
    local ok, info = pcall(call, 'INFO', 'server')
    local rid = ok and type(info) == 'string' and string.match(info, 'run_id:(%x+)')
    for _ = 1, cnt do
      if rid then
        local cur = call('HGET', A[i], A[i + 1])
        if (not cur) or string.sub(cur, 1, #rid + 1) ~= rid .. ':' then
          call('HSET', A[i], A[i + 1], rid .. ':' .. A[i + 2])
        end
      else
        call('HSETNX', A[i], A[i + 1], A[i + 2])
      end
      i = i + 3
    end
  elseif op == OP.EXPIRE then
    for _ = 1, cnt do call('EXPIRE', A[i], A[i + 1]); i = i + 2 end
  elseif op == OP.RPUSH then
    for _ = 1, cnt do call('RPUSH', A[i], A[i + 1]); i = i + 2 end
  elseif op == OP.DEL then
    for _ = 1, cnt do call('DEL', A[i]); i = i + 1 end
  elseif op == OP.ZADD then
    for _ = 1, cnt do call('ZADD', A[i], A[i + 1], A[i + 2]); i = i + 3 end
  elseif op == OP.ZREM then
    for _ = 1, cnt do call('ZREM', A[i], A[i + 1]); i = i + 2 end
  elseif op == OP.SADD then
    for _ = 1, cnt do call('SADD', A[i], A[i + 1]); i = i + 2 end
  elseif op == OP.HMIN then
    for _ = 1, cnt do
      local old = call('HGET', A[i], A[i + 1])
      if (not old) or A[i + 2] < old then call('HSET', A[i], A[i + 1], A[i + 2]) end
      i = i + 3
    end
  elseif op == OP.HMAX then
    for _ = 1, cnt do
      local old = call('HGET', A[i], A[i + 1])
      if (not old) or tonumber(A[i + 2]) > tonumber(old) then
        call('HSET', A[i], A[i + 1], A[i + 2])
      end
      i = i + 3
    end
  elseif op == OP.PUBLISH then
    for _ = 1, cnt do call('PUBLISH', A[i], A[i + 1]); i = i + 2 end
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
end
if org_mode then
  call('HSET', offkey, POS.epoch .. tp, epoch, POS.writes .. tp, written)
  if nxt ~= UNCHECKED then
    call('HSET', offkey, POS.next .. tp, A[SLOT.incarnation] .. POS.sep .. A[SLOT.next])
  end
elseif first == REWIND then
  -- replay the partition from the log's start (an org's slot came back empty); the orgs'
  -- positions stay, so what they hold is skipped
  -- ... and the outcomes of no org up to where it stood are counted already: remembered
  local stood = tonumber(call('HGET', offkey, tp) or '0')
  if stood > tonumber(call('HGET', A[SLOT.rewound], tp) or '0') then
    call('HSET', A[SLOT.rewound], tp, stood)
  end
  call('HDEL', offkey, tp)
  call('HDEL', fpkey, tp)
elseif nxt ~= UNCHECKED then
  call('HSET', offkey, tp, A[SLOT.next])
  if fp == '' then call('HDEL', fpkey, tp) else call('HSET', fpkey, tp, fp) end
  -- another log under the same offsets: the orgs' positions of the old one mean nothing
  if first == FORCED then
    call('HINCRBY', A[SLOT.incarnations], tp, 1)
    call('HDEL', A[SLOT.rewound], tp)
  end
end
return RESULT.OK
