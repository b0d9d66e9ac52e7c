-- Apply one batch atomically: fence by epoch, skip if already applied, then every write,
-- then the partition's next offset. ARGV layout is built by streams/sink.py (Commit.argv).
local tp, epoch, first, nxt, expected = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local offkey, epkey = ARGV[6], ARGV[7]

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

local i = 8
local n = #ARGV
while i <= n do
  local op, cnt = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  if op == 'I' then
    for _ = 1, cnt do redis.call('HINCRBY', ARGV[i], ARGV[i + 1], ARGV[i + 2]); i = i + 3 end
  elseif op == 'S' then
    for _ = 1, cnt do redis.call('SET', ARGV[i], ARGV[i + 1]); i = i + 2 end
  elseif op == 'H' then
    for _ = 1, cnt do redis.call('HSET', ARGV[i], ARGV[i + 1], ARGV[i + 2]); i = i + 3 end
  elseif op == 'N' then
    for _ = 1, cnt do redis.call('HSETNX', ARGV[i], ARGV[i + 1], ARGV[i + 2]); i = i + 3 end
  elseif op == 'E' then
    for _ = 1, cnt do redis.call('EXPIRE', ARGV[i], ARGV[i + 1]); i = i + 2 end
  elseif op == 'A' then
    for _ = 1, cnt do redis.call('APPEND', ARGV[i], ARGV[i + 1]); i = i + 2 end
  elseif op == 'R' then
    for _ = 1, cnt do redis.call('RPUSH', ARGV[i], ARGV[i + 1]); i = i + 2 end
  elseif op == 'D' then
    for _ = 1, cnt do redis.call('DEL', ARGV[i]); i = i + 1 end
  elseif op == 'Z' then
    for _ = 1, cnt do redis.call('ZADD', ARGV[i], ARGV[i + 1], ARGV[i + 2]); i = i + 3 end
  elseif op == 'X' then
    for _ = 1, cnt do redis.call('ZREM', ARGV[i], ARGV[i + 1]); i = i + 2 end
  elseif op == 'U' then
    for _ = 1, cnt do redis.call('SADD', ARGV[i], ARGV[i + 1]); i = i + 2 end
  elseif op == '<' then
    for _ = 1, cnt do
      local old = redis.call('HGET', ARGV[i], ARGV[i + 1])
      if (not old) or ARGV[i + 2] < old then redis.call('HSET', ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
      i = i + 3
    end
  elseif op == '>' then
    for _ = 1, cnt do
      local old = redis.call('HGET', ARGV[i], ARGV[i + 1])
      if (not old) or tonumber(ARGV[i + 2]) > tonumber(old) then
        redis.call('HSET', ARGV[i], ARGV[i + 1], ARGV[i + 2])
      end
      i = i + 3
    end
  elseif op == 'P' then
    for _ = 1, cnt do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]); i = i + 2 end
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
end
if nxt >= 0 then redis.call('HSET', offkey, tp, nxt) end
return 'ok'
