/**
 * The baseline: a bare Socket.IO server of the installed version with the same options as ours
 * (src/realtime/socket-server.options.ts) and the equivalent work per connection and event: an HS256 check in
 * `io.use`, a join of the user's room, and a `portfolio:subscribe` handler that validates the same payload
 * shape, checks the token's `portfolios` claim, joins the room and acks the same body. A plain `node:http`
 * handler answers `POST /events` with a room emit (for fan-out), `GET /health` and `GET /stats`.
 *
 * Env: PORT, JWT_SECRET, PUBLISH_TOKEN, WS_MAX_PAYLOAD_BYTES, WS_PING_INTERVAL_MS, WS_PING_TIMEOUT_MS,
 * WS_CONNECT_TIMEOUT_MS (defaults as in our env schema).
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createSecretKey } from 'node:crypto';
import { verify } from 'jsonwebtoken';
import { Server } from 'socket.io';

const env = process.env;
const PORT = Number(env.PORT ?? 0);
// A KeyObject, as the server under test uses: the baseline must be the best plain Socket.IO server, not a slow one.
const SECRET = createSecretKey(Buffer.from(env.JWT_SECRET ?? '', 'utf8'));
const PUBLISH_TOKEN = env.PUBLISH_TOKEN ?? '';
const PORTFOLIO_ID = /^[A-Za-z0-9_-]{1,64}$/;

const http = createServer((req, res) => void route(req, res));
const io = new Server(http, {
  path: '/socket.io',
  serveClient: false,
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: Number(env.WS_MAX_PAYLOAD_BYTES ?? 65536),
  pingInterval: Number(env.WS_PING_INTERVAL_MS ?? 25000),
  pingTimeout: Number(env.WS_PING_TIMEOUT_MS ?? 20000),
  connectTimeout: Number(env.WS_CONNECT_TIMEOUT_MS ?? 10000),
  cors: { origin: true, methods: ['GET', 'POST'], credentials: false },
  allowRequest: (req, callback) => callback(null, true),
});

interface Identity {
  userId: string;
  portfolios: Set<string>;
}

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  try {
    if (typeof token !== 'string') throw new Error('no token');
    const claims = verify(token, SECRET, { algorithms: ['HS256'] }) as {
      sub?: unknown;
      portfolios?: unknown;
    };
    if (typeof claims.sub !== 'string' || claims.sub.length === 0) throw new Error('no sub');
    const portfolios = Array.isArray(claims.portfolios) ? claims.portfolios : [];
    socket.data = {
      userId: claims.sub,
      portfolios: new Set(portfolios.filter((p) => typeof p === 'string')),
    };
    next();
  } catch {
    next(new Error('unauthorized'));
  }
});

type Ack = { ok: true; portfolioId: string } | { ok: false; error: { code: string; message?: string } };

function invalid(message: string): Ack {
  return { ok: false, error: { code: 'INVALID_PAYLOAD', message } };
}

/** Same checks as src/realtime/dto/portfolio-subscription.dto.ts plus the claim check of the gateway. */
function subscribe(identity: Identity, payload: unknown): Ack {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    return invalid('not an object');
  if (Object.getPrototypeOf(payload) !== Object.prototype) return invalid('not a plain object');
  let keys = 0;
  for (const key in payload) {
    keys++;
    if (key !== 'portfolioId') return invalid('unexpected field');
  }
  const id = (payload as { portfolioId?: unknown }).portfolioId;
  if (keys === 0 || typeof id !== 'string' || !PORTFOLIO_ID.test(id)) return invalid('invalid portfolioId');
  if (!identity.portfolios.has(id)) return { ok: false, error: { code: 'FORBIDDEN' } };
  return { ok: true, portfolioId: id };
}

io.on('connection', (socket) => {
  const identity = socket.data as Identity;
  void socket.join(`user:${identity.userId}`);
  socket.on('portfolio:subscribe', (payload: unknown, ack?: (a: Ack) => void) => {
    const answer = subscribe(identity, payload);
    if (answer.ok) void socket.join(`portfolio:${answer.portfolioId}`);
    if (typeof ack === 'function') ack(answer);
  });
});

const eventLoop = monitorEventLoopDelay({ resolution: 10 });
eventLoop.enable();

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    if (req.method === 'GET' && req.url === '/health') {
      json(res, 200, { status: 'healthy', timestamp: new Date().toISOString(), uptime: process.uptime() });
    } else if (req.method === 'GET' && req.url === '/stats') {
      json(res, 200, {
        clients: io.engine.clientsCount,
        eventLoopP99Ms: eventLoop.percentile(99) / 1e6,
        memory: process.memoryUsage(),
      });
      eventLoop.reset();
    } else if (req.method === 'POST' && req.url === '/events') {
      if (req.headers.authorization !== `Bearer ${PUBLISH_TOKEN}`) {
        json(res, 401, { error: 'unauthorized' });
        return;
      }
      const body = JSON.parse(await readBody(req)) as { event: string; portfolioId: string; data: unknown };
      const room = `portfolio:${body.portfolioId}`;
      const delivered = io.of('/').adapter.rooms.get(room)?.size ?? 0;
      io.to(room).emit(body.event, {
        portfolioId: body.portfolioId,
        data: body.data,
        timestamp: new Date().toISOString(),
      });
      json(res, 202, { event: body.event, rooms: [room], delivered });
    } else {
      json(res, 404, { error: 'not found' });
    }
  } catch (err) {
    json(res, 400, { error: String(err) });
  }
}

http.listen(PORT, '127.0.0.1');
process.on('SIGTERM', () => {
  void io.close();
  process.exit(0);
});
