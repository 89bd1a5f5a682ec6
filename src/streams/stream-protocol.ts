/**
 * The positioned-publication protocol in Redis: key names, the two Lua scripts and the message format. It is
 * shared, byte for byte, by the server and by the publisher library (packages/publisher, a generated copy
 * checked by test/publisher.e2e-spec.ts), so a service that publishes without HTTP takes exactly the same
 * atomic step as POST /events. Self-contained on purpose: no imports.
 *
 * Per stream (`portfolio:<id>`, `user:<id>`), two keys in one hash slot:
 * - `<service>:stream:{<stream>}:meta`, a hash `{epoch, offset, run}`: the stream's history identity, the last
 *   offset given out, and the run id of the Redis server that gave it (a Redis restart, even one that reloads
 *   an older snapshot, changes the run id and so the epoch: offsets can never be handed out twice in one epoch);
 * - `<service>:stream:{<stream>}:log`, a Redis Stream of the last publications, entry id `<offset>-0`, one
 *   field `m` holding the message exactly as it was broadcast.
 * The log expires STREAM_HISTORY_TTL_MS after the last publication; the meta lives at least META_TTL_MS so an
 * idle stream keeps its epoch (a client that saw everything is not told to resync because nothing happened).
 */

/** The shortest time a stream's epoch and last offset are kept after its last use. */
export const META_TTL_MS = 24 * 60 * 60 * 1000;

export const streamMetaKey = (service: string, stream: string): string =>
  `${service}:stream:{${stream}}:meta`;
export const streamLogKey = (service: string, stream: string): string => `${service}:stream:{${stream}}:log`;
/** The pub/sub channel every replica listens on; one channel keeps one global order of publications. */
export const streamChannel = (service: string): string => `${service}:streams`;
/** Where an Idempotency-Key's first result is kept (the key itself is hashed by the caller). */
export const idempotencyKey = (service: string, keyHash: string): string =>
  `${service}:idempotency:${keyHash}`;

export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** A publication as broadcast on the channel and kept in the log. */
export interface StreamMessage {
  /** Publication id. */
  id: string;
  /** Event name (`portfolio:update`, `trade:executed`). */
  ev: string;
  /** The event's own fields, as clients receive them (positions are added by the server). */
  p: Record<string, unknown>;
  /** When the publication entered the system (origin clock, ms since the epoch, fractional). */
  ts: number;
  /** Origin instance id. */
  o: string;
  /** Its position in each of its streams. */
  pos: Record<string, StreamPosition>;
}

/**
 * The message's JSON up to (not including) its positions; the script appends `{...positions}}`. Building the
 * text here and finishing it in Lua keeps the payload's JSON untouched (cjson would re-encode numbers).
 */
export function messageHead(m: Omit<StreamMessage, 'pos'>): string {
  return `{"id":${JSON.stringify(m.id)},"ev":${JSON.stringify(m.ev)},"ts":${m.ts},"o":${JSON.stringify(m.o)},"p":${JSON.stringify(m.p)},"pos":`;
}

export function parseMessage(json: string): StreamMessage | null {
  try {
    const m = JSON.parse(json) as StreamMessage;
    return typeof m === 'object' && m !== null && typeof m.id === 'string' && typeof m.pos === 'object'
      ? m
      : null;
  } catch {
    return null;
  }
}

/** A fresh epoch candidate: 64 random bits, hex. The script uses it only when the stream needs a new epoch. */
export function newEpoch(): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const RUN_ID = `local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')`;

/**
 * Publishes one message to 1 or 2 streams, atomically: idempotency check, offsets, log entries, expiry and
 * the broadcast are one step, so the channel's order is the offsets' order whichever replica publishes.
 *
 * KEYS: meta1, log1[, meta2, log2], idempotencyKey (always last; ignored when ARGV[2] is '0').
 * ARGV: 1 stream count, 2 has idempotency key ('1'/'0'), 3 history size, 4 history ttl ms, 5 meta ttl ms,
 *   6 idempotency ttl ms, 7 body hash, 8 message head, 9 result head, 10 channel, 11 new epoch candidate,
 *   12 deadline (ms on Redis's clock; '0' for none), then per stream: its name, and '1' if its epoch must
 *   change now (this replica delivered publications of it that Redis never recorded).
 * Returns {'ok', positionsJson, receivers}, {'repeat', storedRecord} or {'late'}: the script ran after its
 * deadline (Redis was frozen and the caller has given up on it and delivered it its own way), so it did nothing.
 * A publication is therefore either recorded and broadcast in time, or never: not late.
 */
export const PUBLISH_SCRIPT = `
local deadline = tonumber(ARGV[12])
if deadline > 0 then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000 > deadline then return {'late'} end
end
local n = tonumber(ARGV[1])
local idem = KEYS[2 * n + 1]
if ARGV[2] == '1' then
  local prev = redis.call('GET', idem)
  if prev then return {'repeat', prev} end
end
${RUN_ID}
local size, ttl, metaTtl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local parts = {}
local offsets = {}
for i = 1, n do
  local meta, log = KEYS[2 * i - 1], KEYS[2 * i]
  local name, rotate = ARGV[11 + 2 * i], ARGV[12 + 2 * i]
  local m = redis.call('HMGET', meta, 'epoch', 'offset', 'run')
  local epoch, offset = m[1], tonumber(m[2]) or 0
  if (not epoch) or m[3] ~= run or rotate == '1' then
    epoch = ARGV[11]
    offset = 0
    redis.call('DEL', log)
    redis.call('HSET', meta, 'epoch', epoch, 'run', run)
  end
  offset = offset + 1
  redis.call('HSET', meta, 'offset', offset)
  offsets[i] = offset
  parts[i] = cjson.encode(name) .. ':{"epoch":' .. cjson.encode(epoch) .. ',"offset":' .. offset .. '}'
end
local positions = '{' .. table.concat(parts, ',') .. '}'
local message = ARGV[8] .. positions .. '}'
for i = 1, n do
  local meta, log = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('XADD', log, 'MAXLEN', size, offsets[i] .. '-0', 'm', message)
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', meta, metaTtl)
end
local receivers = redis.call('PUBLISH', ARGV[10], message)
if ARGV[2] == '1' then
  redis.call('SET', idem, ARGV[7] .. '\\n' .. ARGV[9] .. positions .. '}', 'PX', tonumber(ARGV[6]))
end
return {'ok', positions, receivers}
`;

/**
 * A stream's current position and, with a since position, the publications after it.
 *
 * KEYS: meta, log. ARGV: 1 since epoch ('' for none), 2 since offset, 3 most entries to return (the history
 * size), 4 new epoch candidate, 5 meta ttl ms.
 * Returns {result, epoch, offset, messages...}; result is 'position' (no since), 'recovered', 'expired' (the log
 * no longer reaches back to since + 1) or 'epoch_changed' (another history, or a position it never gave out).
 */
export const RESUME_SCRIPT = `
${RUN_ID}
local meta, log = KEYS[1], KEYS[2]
local m = redis.call('HMGET', meta, 'epoch', 'offset', 'run')
local epoch, offset = m[1], tonumber(m[2]) or 0
if (not epoch) or m[3] ~= run then
  epoch = ARGV[4]
  offset = 0
  redis.call('DEL', log)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0, 'run', run)
end
redis.call('PEXPIRE', meta, tonumber(ARGV[5]))
if ARGV[1] == '' then return {'position', epoch, offset} end
local since = tonumber(ARGV[2])
if ARGV[1] ~= epoch or since > offset then return {'epoch_changed', epoch, offset} end
if since == offset then return {'recovered', epoch, offset} end
local missing = offset - since
if missing > tonumber(ARGV[3]) then return {'expired', epoch, offset} end
local entries = redis.call('XRANGE', log, (since + 1) .. '-0', '+', 'COUNT', missing)
if #entries ~= missing or entries[1][1] ~= (since + 1) .. '-0' then return {'expired', epoch, offset} end
local out = {'recovered', epoch, offset}
for i = 1, #entries do out[#out + 1] = entries[i][2][2] end
return out
`;

/** Changes a stream's epoch now (history dropped): used for streams that had publications Redis never recorded. */
export const ROTATE_SCRIPT = `
${RUN_ID}
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0, 'run', run)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

export type ResumeResult = 'position' | 'recovered' | 'expired' | 'epoch_changed';

/** What is published: the body of POST /events, and of the publisher library's `publish`. */
export interface Publication {
  event: 'portfolio:update' | 'trade:executed';
  portfolioId?: string;
  userId?: string;
  data: Record<string, unknown>;
}

/** Its streams, user first: `portfolio:update` has a portfolio; `trade:executed` a user, a portfolio or both. */
export function publicationStreams(p: Publication): string[] {
  const streams: string[] = [];
  if (p.event === 'trade:executed' && p.userId !== undefined) streams.push(`user:${p.userId}`);
  if (p.portfolioId !== undefined) streams.push(`portfolio:${p.portfolioId}`);
  return streams;
}

/** The event's own fields as clients receive them (positions and id are added at delivery). */
export function publicationFields(p: Publication, timestamp: string): Record<string, unknown> {
  if (p.event === 'portfolio:update') return { portfolioId: p.portfolioId, data: p.data, timestamp };
  return {
    ...(p.userId !== undefined ? { userId: p.userId } : {}),
    ...(p.portfolioId !== undefined ? { portfolioId: p.portfolioId } : {}),
    data: p.data,
    timestamp,
  };
}

/**
 * The text an Idempotency-Key's body is compared by (its hash is stored): fields in a fixed order, so the same
 * publication hashes the same whichever way it was sent (HTTP or the library).
 */
export function idempotencyBody(p: Publication): string {
  return JSON.stringify([p.event, p.portfolioId ?? null, p.userId ?? null, p.data]);
}

/** The POST /events answer's JSON up to its positions; the script completes it and keeps it for repeats. */
export function resultHead(event: string, rooms: string[], delivered: number, id: string): string {
  return `{"event":${JSON.stringify(event)},"rooms":${JSON.stringify(rooms)},"delivered":${delivered},"id":${JSON.stringify(id)},"positions":`;
}

/** Everything one run of PUBLISH_SCRIPT needs. */
export interface PublishCall {
  service: string;
  streams: string[];
  /** Streams whose epoch must change now. */
  rotate?: ReadonlySet<string>;
  historySize: number;
  historyTtlMs: number;
  idempotencyTtlMs: number;
  idempotency?: { keyHash: string; bodyHash: string; resultHead: string };
  /** The message's JSON up to its positions (`messageHead`). */
  head: string;
  /** On Redis's clock, ms; 0 for none. */
  deadline: number;
}

/** PUBLISH_SCRIPT's `numkeys, ...keys, ...argv`, in the order the script reads them. */
export function publishScriptArgs(c: PublishCall): Array<string | number> {
  const keys: string[] = [];
  const streamArgs: string[] = [];
  for (const name of c.streams) {
    keys.push(streamMetaKey(c.service, name), streamLogKey(c.service, name));
    streamArgs.push(name, c.rotate?.has(name) === true ? '1' : '0');
  }
  const idem = c.idempotency;
  // The idempotency key is always the last key; without one, any key of the same slot stands in (unread).
  keys.push(idem === undefined ? keys[0] : idempotencyKey(c.service, idem.keyHash));
  return [
    keys.length,
    ...keys,
    c.streams.length,
    idem === undefined ? '0' : '1',
    c.historySize,
    c.historyTtlMs,
    Math.max(META_TTL_MS, c.historyTtlMs),
    c.idempotencyTtlMs,
    idem?.bodyHash ?? '',
    c.head,
    idem?.resultHead ?? '',
    streamChannel(c.service),
    newEpoch(),
    c.deadline,
    ...streamArgs,
  ];
}

export type PublishReply =
  | { kind: 'published'; positionsJson: string; receivers: number }
  | { kind: 'repeat'; bodyHash: string; result: string }
  | { kind: 'late' };

/** PUBLISH_SCRIPT's reply, read. */
export function readPublishReply(reply: Array<string | number>): PublishReply {
  if (reply[0] === 'late') return { kind: 'late' };
  if (reply[0] === 'repeat') {
    const stored = String(reply[1]);
    const cut = stored.indexOf('\n');
    return { kind: 'repeat', bodyHash: stored.slice(0, cut), result: stored.slice(cut + 1) };
  }
  return { kind: 'published', positionsJson: String(reply[1]), receivers: Number(reply[2]) };
}
