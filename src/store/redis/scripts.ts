/*
 * The store's Lua scripts, one constant each. Redis runs a script atomically: no other command
 * interleaves, so each check-then-write (referential checks, cascades, version numbers, change
 * notifications) sees and leaves one consistent state. See keys.ts for the key layout.
 */
import { LuaScript } from './runner.js'

// Lua helpers shared by every script. ARGV[1] is the hash tag `{prefix}`, ARGV[2] the channel.
const luaPrelude = `
local tag, channel = ARGV[1], ARGV[2]
local spacesKey, setsKey = tag .. ':spaces', tag .. ':sets'
local translatorsKey, refsKey = tag .. ':translators', tag .. ':tr-refs'
local activeKey, versionsKey = tag .. ':active', tag .. ':versions'
local function setIdsKey (set) return tag .. ':set-ids:' .. set end
local function setSpacesKey (set) return tag .. ':set-spaces:' .. set end
local function embKey (set, space) return tag .. ':emb:' .. set .. '|' .. space end
local function paramsKey (id) return tag .. ':tr-params:' .. id end
local function spaceHasDim (name, dim)
  local record = redis.call('HGET', spacesKey, name)
  return record and cjson.decode(record).dim == tonumber(dim)
end

local function notify (kind, key)
  redis.call('PUBLISH', channel, cjson.encode({ kind = kind, key = key }))
end

-- Space and set records are stored as <body>,"revision":"<rev>","createdAt":"<iso>"} so that a
-- script can keep the original createdAt, or give a record a new revision, without re-encoding the
-- body (cjson would turn {} into [] and round floats). Records written before revisions existed
-- end <body>,"createdAt":"<iso>"}: their revision is nil here. No body ends with a "revision"
-- member of its own (a space's ends with "name", a set's with "description").
-- Returns body, revision (JSON string or nil), createdAt (JSON string).
local function splitRecord (json)
  local head, createdAt = string.match(json, '^(.*),"createdAt":("[^"]*")}$')
  local body, revision = string.match(head, '^(.*),"revision":("[^"]*")$')
  if body then return body, revision, createdAt end
  return head, nil, createdAt
end

-- revision and createdAt are JSON strings.
local function joinRecord (body, revision, createdAt)
  return body .. ',"revision":' .. revision .. ',"createdAt":' .. createdAt .. '}'
end

-- The revision of a space or set record (nil: no record). A record written before revisions
-- existed has had no write since: its creation time names that one state until the next write
-- stores a revision (readers in replies.ts make the same choice).
local function recordRevision (record)
  if not record then return nil end
  local decoded = cjson.decode(record)
  return decoded.revision or decoded.createdAt
end

local function listHas (list, value)
  for _, item in ipairs(list) do
    if item == value then return true end
  end
  return false
end

-- Whether a write's If-Match and If-None-Match hold for the current revision (nil: nothing
-- stored). Each is '' (not asked), '*', or a JSON array of revisions. If-Match: '*' asks that
-- something is stored, a list that its revision is one of it. If-None-Match: '*' asks that nothing
-- is stored, a list that nothing is or its revision is none of it.
local function preconditionsHold (current, ifMatch, ifNoneMatch)
  if ifMatch and ifMatch ~= '' then
    if current == nil then return false end
    if ifMatch ~= '*' and not listHas(cjson.decode(ifMatch), current) then return false end
  end
  if ifNoneMatch and ifNoneMatch ~= '' and current ~= nil then
    if ifNoneMatch == '*' or listHas(cjson.decode(ifNoneMatch), current) then return false end
  end
  return true
end

-- Gives a set a new revision (a JSON string): what it shows of its embeddings changed.
local function touchSet (set, revision)
  local record = redis.call('HGET', setsKey, set)
  if not record then return end
  local body, _, createdAt = splitRecord(record)
  redis.call('HSET', setsKey, set, joinRecord(body, revision, createdAt))
end

-- Ids of the translators whose (source, target, anchorSet) satisfy the predicate, sorted.
local function translatorsWhere (predicate)
  local flat = redis.call('HGETALL', refsKey)
  local ids = {}
  for i = 1, #flat, 2 do
    local refs = cjson.decode(flat[i + 1])
    if predicate(refs[1], refs[2], refs[3]) then ids[#ids + 1] = flat[i] end
  end
  table.sort(ids)
  return ids
end

local function removeTranslator (id)
  local refs = redis.call('HGET', refsKey, id)
  if not refs then return false end
  local r = cjson.decode(refs)
  local pair = r[1] .. '|' .. r[2]
  redis.call('HDEL', translatorsKey, id)
  redis.call('HDEL', refsKey, id)
  redis.call('DEL', paramsKey(id))
  notify('translator', id)
  if redis.call('HGET', activeKey, pair) == id then
    redis.call('HDEL', activeKey, pair)
    notify('active', pair)
  end
  return true
end

-- The revision of one set's embeddings in one space, nil when there are none.
local function embeddingsRevision (set, space)
  local meta = redis.call('HGET', embKey(set, space), 'meta')
  if not meta then return nil end
  local summary = cjson.decode(meta)
  -- Records stored before revisions existed have none; their update time stands in.
  return summary.revision or summary.updatedAt
end

local function removeEmbeddings (set, space)
  redis.call('DEL', embKey(set, space))
  redis.call('HDEL', setSpacesKey(set), space)
  notify('embeddings', set .. '|' .. space)
end
`

// Creates a space, or updates its description and metadata keeping createdAt; a different dim is
// a conflict. Checks If-Match / If-None-Match first. Notifies only when something changed.
// ARGV: tag, channel, name, dim, body, createdAt JSON, revision JSON, if-match, if-none-match
// → {status, record JSON}
const putSpaceLua = `
local name, dim, body, createdAt, revision = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
local existing = redis.call('HGET', spacesKey, name)
if not preconditionsHold(recordRevision(existing), ARGV[8], ARGV[9]) then return { 'precondition-failed' } end
if not existing then
  local record = joinRecord(body, revision, createdAt)
  redis.call('HSET', spacesKey, name, record)
  notify('space', name)
  return { 'created', record }
end
if cjson.decode(existing).dim ~= dim then return { 'conflict', existing } end
local oldBody, _, oldCreatedAt = splitRecord(existing)
if oldBody == body then return { 'unchanged', existing } end
local record = joinRecord(body, revision, oldCreatedAt)
redis.call('HSET', spacesKey, name, record)
notify('space', name)
return { 'updated', record }
`

// Creates an anchor set with its ids, or updates its description keeping createdAt; different ids
// are a conflict (the ids of a set never change). Checks If-Match / If-None-Match first.
// ARGV: tag, channel, name, ids JSON, body, createdAt JSON, revision JSON, if-match, if-none-match
// → {status, record JSON, ids JSON}
const putAnchorSetLua = `
local name, ids, body, createdAt, revision = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local existing = redis.call('HGET', setsKey, name)
if not preconditionsHold(recordRevision(existing), ARGV[8], ARGV[9]) then return { 'precondition-failed' } end
if not existing then
  local record = joinRecord(body, revision, createdAt)
  redis.call('HSET', setsKey, name, record)
  redis.call('SET', setIdsKey(name), ids)
  notify('anchorSet', name)
  return { 'created', record, ids }
end
local oldIds = redis.call('GET', setIdsKey(name))
if oldIds ~= ids then return { 'conflict', existing, oldIds } end
local oldBody, _, oldCreatedAt = splitRecord(existing)
if oldBody == body then return { 'unchanged', existing, oldIds } end
local record = joinRecord(body, revision, oldCreatedAt)
redis.call('HSET', setsKey, name, record)
notify('anchorSet', name)
return { 'updated', record, oldIds }
`

// Stores one set's embeddings in one space (ids, matrix, summary in one hash) and indexes them
// under the set, if the set and the space (with that dim) exist.
// ARGV: tag, channel, set, space, ids JSON, float32 bytes, summary JSON, dim, expected revision
// ('' | '*' | JSON array), the set's new revision JSON, if-none-match → {status, replaced}
// A space recreated with another dim since the caller checked it counts as missing.
const putEmbeddingsLua = `
local set, space = ARGV[3], ARGV[4]
if redis.call('HEXISTS', setsKey, set) == 0 then return { 'missing-set' } end
if not spaceHasDim(space, ARGV[8]) then return { 'missing-space' } end
if not preconditionsHold(embeddingsRevision(set, space), ARGV[9], ARGV[11]) then return { 'precondition-failed' } end
local key = embKey(set, space)
local replaced = redis.call('EXISTS', key)
redis.call('HSET', key, 'ids', ARGV[5], 'data', ARGV[6], 'meta', ARGV[7])
redis.call('HSET', setSpacesKey(set), space, ARGV[7])
touchSet(set, ARGV[10])
notify('embeddings', set .. '|' .. space)
return { 'stored', replaced }
`

// Delete scripts answer {status, {set, space, set, space, ...}, {translator id, ...}}.

// Deletes a space; its embeddings and the translators from or to it block it, or go with it
// when cascading.
// ARGV: tag, channel, name, cascade ('1' | '0'), if-match, new revision JSON of the sets that lose
// embeddings
const deleteSpaceLua = `
local name, cascade = ARGV[3], ARGV[4] == '1'
local existing = redis.call('HGET', spacesKey, name)
if not preconditionsHold(recordRevision(existing), ARGV[5], '') then return { 'precondition-failed' } end
if not existing then return { 'not-found' } end
local embeddings = {}
local sets = redis.call('HKEYS', setsKey)
table.sort(sets)
for _, set in ipairs(sets) do
  if redis.call('HEXISTS', setSpacesKey(set), name) == 1 then
    embeddings[#embeddings + 1] = set
    embeddings[#embeddings + 1] = name
  end
end
local translators = translatorsWhere(function (source, target) return source == name or target == name end)
if not cascade and (#embeddings > 0 or #translators > 0) then return { 'conflict', embeddings, translators } end
for _, id in ipairs(translators) do removeTranslator(id) end
for i = 1, #embeddings, 2 do
  removeEmbeddings(embeddings[i], name)
  touchSet(embeddings[i], ARGV[6])
end
redis.call('HDEL', spacesKey, name)
notify('space', name)
return { 'deleted', embeddings, translators }
`

// Deletes an anchor set, its ids and its embeddings; translators fitted on it block it, or go with
// it when cascading.
// ARGV: tag, channel, name, cascade, if-match. The set's own embeddings go with it and never block.
const deleteAnchorSetLua = `
local name, cascade = ARGV[3], ARGV[4] == '1'
local existing = redis.call('HGET', setsKey, name)
if not preconditionsHold(recordRevision(existing), ARGV[5], '') then return { 'precondition-failed' } end
if not existing then return { 'not-found' } end
local translators = translatorsWhere(function (_, _, anchorSet) return anchorSet == name end)
if not cascade and #translators > 0 then return { 'conflict', {}, translators } end
local spaces = redis.call('HKEYS', setSpacesKey(name))
table.sort(spaces)
local embeddings = {}
for _, id in ipairs(translators) do removeTranslator(id) end
for _, space in ipairs(spaces) do
  removeEmbeddings(name, space)
  embeddings[#embeddings + 1] = name
  embeddings[#embeddings + 1] = space
end
redis.call('DEL', setIdsKey(name), setSpacesKey(name))
redis.call('HDEL', setsKey, name)
notify('anchorSet', name)
return { 'deleted', embeddings, translators }
`

// Deletes one set's embeddings in one space; the translators fitted on them block it, or go with
// them when cascading.
// ARGV: tag, channel, set, space, cascade, expected revision ('' | '*' | JSON array), the set's new
// revision JSON
const deleteEmbeddingsLua = `
local set, space, cascade = ARGV[3], ARGV[4], ARGV[5] == '1'
if not preconditionsHold(embeddingsRevision(set, space), ARGV[6], '') then return { 'precondition-failed' } end
if redis.call('EXISTS', embKey(set, space)) == 0 then return { 'not-found' } end
local translators = translatorsWhere(function (source, target, anchorSet)
  return anchorSet == set and (source == space or target == space)
end)
if not cascade and #translators > 0 then return { 'conflict', {}, translators } end
for _, id in ipairs(translators) do removeTranslator(id) end
removeEmbeddings(set, space)
touchSet(set, ARGV[7])
return { 'deleted', {}, translators }
`

// Stores a translator with the next version of its (source, target) pair and its parameters, if
// both spaces (with those dims) and the anchor set exist; it becomes the pair's active one when
// asked to or when the pair has none.
// ARGV: tag, channel, id, source, target, anchorSet, meta body (no version, no closing brace),
// refs JSON, activate ('1' | '0' | 'never'), source dim, target dim, then parameter name/bytes pairs
// → {status, version | what, active}. A space recreated with another dim counts as missing. An id
// stored already for the same pair → {'exists', its meta JSON, the pair's active id or ''}.
const createTranslatorLua = `
local id, source, target, anchorSet = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not spaceHasDim(source, ARGV[10]) then return { 'missing', 'source' } end
if not spaceHasDim(target, ARGV[11]) then return { 'missing', 'target' } end
if redis.call('HEXISTS', setsKey, anchorSet) == 0 then return { 'missing', 'anchorSet' } end
local pair = source .. '|' .. target
local existing = redis.call('HGET', refsKey, id)
if existing then
  local r = cjson.decode(existing)
  if r[1] ~= source or r[2] ~= target then return redis.error_reply('translator id already exists: ' .. id) end
  return { 'exists', redis.call('HGET', translatorsKey, id), redis.call('HGET', activeKey, pair) or '' }
end
local version = redis.call('HINCRBY', versionsKey, pair, 1)
redis.call('HSET', translatorsKey, id, ARGV[7] .. ',"version":' .. version .. '}')
redis.call('HSET', refsKey, id, ARGV[8])
for i = 12, #ARGV, 2 do redis.call('HSET', paramsKey(id), ARGV[i], ARGV[i + 1]) end
notify('translator', id)
local active = 0
if ARGV[9] == '1' or (ARGV[9] == '0' and redis.call('HEXISTS', activeKey, pair) == 0) then
  redis.call('HSET', activeKey, pair, id)
  active = 1
  notify('active', pair)
end
return { 'created', version, active }
`

// Makes a translator the active one of its (source, target) pair.
// ARGV: tag, channel, id → meta JSON or nil
const activateTranslatorLua = `
local id = ARGV[3]
local refs = redis.call('HGET', refsKey, id)
if not refs then return false end
local r = cjson.decode(refs)
local pair = r[1] .. '|' .. r[2]
redis.call('HSET', activeKey, pair, id)
notify('active', pair)
return redis.call('HGET', translatorsKey, id)
`

// Deletes a translator and its parameters; the pair loses its active translator if it was this.
// ARGV: tag, channel, id → 1 | 0
const deleteTranslatorLua = `
if removeTranslator(ARGV[3]) then return 1 end
return 0
`

// Reads that span keys also run as scripts, so they see one consistent state.

// An anchor set's record with its ids.
// ARGV: tag, channel, name → {record JSON, ids JSON} or nil
const readAnchorSetLua = `
local record = redis.call('HGET', setsKey, ARGV[3])
if not record then return false end
return { record, redis.call('GET', setIdsKey(ARGV[3])) }
`

// One anchor set's record (or every set's) with the summaries of the embeddings it holds.
// ARGV: tag, channel, name or none → {record JSON, {space, summary JSON, ...}, ...}
const readSetSummariesLua = `
local names
if ARGV[3] then names = { ARGV[3] } else names = redis.call('HKEYS', setsKey) end
local out = {}
for _, name in ipairs(names) do
  local record = redis.call('HGET', setsKey, name)
  if record then
    out[#out + 1] = record
    out[#out + 1] = redis.call('HGETALL', setSpacesKey(name))
  end
end
return out
`

// A translator's meta, its pair's active id and, when asked, its parameters.
// ARGV: tag, channel, id, with params ('1' | '0') → {meta JSON, active id or '', {name, bytes, ...}} or nil
const readTranslatorLua = `
local id = ARGV[3]
local meta = redis.call('HGET', translatorsKey, id)
if not meta then return false end
local r = cjson.decode(redis.call('HGET', refsKey, id))
local active = redis.call('HGET', activeKey, r[1] .. '|' .. r[2]) or ''
local params = {}
if ARGV[4] == '1' then params = redis.call('HGETALL', paramsKey(id)) end
return { meta, active, params }
`

// Every translator's meta with every pair's active id.
// ARGV: tag, channel → {{id, meta JSON, ...}, {pair, id, ...}}
const readTranslatorsLua = `
return { redis.call('HGETALL', translatorsKey), redis.call('HGETALL', activeKey) }
`

/** Every script, the prelude prepended. */
export const scripts = {
  putSpace: new LuaScript(luaPrelude + putSpaceLua),
  putAnchorSet: new LuaScript(luaPrelude + putAnchorSetLua),
  putEmbeddings: new LuaScript(luaPrelude + putEmbeddingsLua),
  deleteSpace: new LuaScript(luaPrelude + deleteSpaceLua),
  deleteAnchorSet: new LuaScript(luaPrelude + deleteAnchorSetLua),
  deleteEmbeddings: new LuaScript(luaPrelude + deleteEmbeddingsLua),
  createTranslator: new LuaScript(luaPrelude + createTranslatorLua),
  activateTranslator: new LuaScript(luaPrelude + activateTranslatorLua),
  deleteTranslator: new LuaScript(luaPrelude + deleteTranslatorLua),
  readAnchorSet: new LuaScript(luaPrelude + readAnchorSetLua),
  readSetSummaries: new LuaScript(luaPrelude + readSetSummariesLua),
  readTranslator: new LuaScript(luaPrelude + readTranslatorLua),
  readTranslators: new LuaScript(luaPrelude + readTranslatorsLua)
}

/** JSON with object keys sorted at every level, so equal values serialize to equal strings. */
export function stableJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    const sorted: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k]
    return sorted
  })
}

/** The JSON of an object without its closing brace, for a script to complete. */
export function openJson (json: string): string {
  return json.slice(0, -1)
}
