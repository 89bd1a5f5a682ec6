/**
 * The work both reference servers do, defined once so they differ only in how events reach it: bench/bare-server.ts
 * (plain `socket.on` listeners) and bench/plain-nest-server.ts (a Nest `@SubscribeMessage` gateway on Nest's
 * default `IoAdapter`). The same Socket.IO options as ours (src/realtime/socket-server.options.ts), an HS256
 * check in `io.use`, a join of the user's room, subscribe/unsubscribe handlers with the same payload checks and
 * ack shape as ours, and a plain `node:http` handler for `POST /events` (a room emit, for fan-out), `GET /health`
 * and `GET /stats`.
 *
 * Env: JWT_SECRET, PUBLISH_TOKEN, WS_MAX_PAYLOAD_BYTES, WS_PING_INTERVAL_MS, WS_PING_TIMEOUT_MS,
 * WS_CONNECT_TIMEOUT_MS (defaults as in our env schema).
 */
import { createSecretKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { verify } from 'jsonwebtoken';
import type { Server, ServerOptions, Socket } from 'socket.io';

const env = process.env;
const PORTFOLIO_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const SUBSCRIBE = 'portfolio:subscribe';
export const UNSUBSCRIBE = 'portfolio:unsubscribe';

export const socketOptions: Partial<ServerOptions> = {
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
  allowRequest: (_req, callback) => callback(null, true),
};

export interface Identity {
  userId: string;
  portfolios: Set<string>;
}

export type Ack =
  { ok: true; portfolioId: string } | { ok: false; error: { code: string; message?: string } };

// A KeyObject, as the server under test uses: a baseline must be the best plain server, not a slow one.
const SECRET = createSecretKey(Buffer.from(env.JWT_SECRET ?? '', 'utf8'));

/** Socket.IO middleware: verifies the handshake's JWT and keeps the identity in `socket.data`. */
export function authenticate(socket: Socket, next: (err?: Error) => void): void {
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
    } satisfies Identity;
    next();
  } catch {
    next(new Error('unauthorized'));
  }
}

/** What a connection does once authenticated: join the user's own room. */
export function onConnection(socket: Socket): void {
  void socket.join(`user:${(socket.data as Identity).userId}`);
}

function invalid(message: string): Ack {
  return { ok: false, error: { code: 'INVALID_PAYLOAD', message } };
}

/** The portfolio id of a valid payload, or the refusal: the checks of src/realtime/dto/portfolio-subscription.dto.ts. */
function portfolioOf(payload: unknown): string | Ack {
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
  return id;
}

/** `portfolio:subscribe`: payload checks, the token's `portfolios` claim, join, ack. */
export function subscribe(socket: Socket, payload: unknown): Ack {
  const id = portfolioOf(payload);
  if (typeof id !== 'string') return id;
  if (!(socket.data as Identity).portfolios.has(id)) return { ok: false, error: { code: 'FORBIDDEN' } };
  void socket.join(`portfolio:${id}`);
  return { ok: true, portfolioId: id };
}

/** `portfolio:unsubscribe`: payload checks, leave, ack. */
export function unsubscribe(socket: Socket, payload: unknown): Ack {
  const id = portfolioOf(payload);
  if (typeof id !== 'string') return id;
  void socket.leave(`portfolio:${id}`);
  return { ok: true, portfolioId: id };
}

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

/** The HTTP side, on `io()` once it exists: /health (readiness), /stats (connection count), POST /events. */
export function httpRoutes(io: () => Server): (req: IncomingMessage, res: ServerResponse) => void {
  const eventLoop = monitorEventLoopDelay({ resolution: 10 });
  eventLoop.enable();
  const publishToken = env.PUBLISH_TOKEN ?? '';
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      if (req.method === 'GET' && req.url === '/health') {
        json(res, 200, { status: 'healthy', timestamp: new Date().toISOString(), uptime: process.uptime() });
      } else if (req.method === 'GET' && req.url === '/stats') {
        json(res, 200, {
          clients: io().engine.clientsCount,
          eventLoopP99Ms: eventLoop.percentile(99) / 1e6,
          memory: process.memoryUsage(),
        });
        eventLoop.reset();
      } else if (req.method === 'POST' && req.url === '/events') {
        if (req.headers.authorization !== `Bearer ${publishToken}`) {
          json(res, 401, { error: 'unauthorized' });
          return;
        }
        const body = JSON.parse(await readBody(req)) as { event: string; portfolioId: string; data: unknown };
        const room = `portfolio:${body.portfolioId}`;
        const delivered = io().of('/').adapter.rooms.get(room)?.size ?? 0;
        io().to(room).emit(body.event, {
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
  };
  return (req, res) => void route(req, res);
}
