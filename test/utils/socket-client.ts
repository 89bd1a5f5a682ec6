import { PrivateKey, Secret, sign, SignOptions } from 'jsonwebtoken';
import { io, ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import { TEST_JWT_SECRET } from './test-app';

/**
 * Every token the tests mint: HS256, `iat` now and `exp` in an hour unless `claims` or `options` say otherwise.
 * An option given as `undefined` is left out, so `{ expiresIn: undefined }` mints a token without `exp`.
 */
export function signToken(
  claims: Record<string, unknown>,
  options: SignOptions = {},
  secret: Secret | PrivateKey = TEST_JWT_SECRET,
): string {
  const merged: SignOptions = { algorithm: 'HS256', expiresIn: '1h', ...options };
  if ('exp' in claims && !('expiresIn' in options)) delete merged.expiresIn;
  for (const key of Object.keys(merged) as Array<keyof SignOptions>) {
    if (merged[key] === undefined) delete merged[key];
  }
  return sign(claims, secret, merged);
}

/** A signed access token for `userId`, valid for an hour unless `options` say otherwise. */
export function makeToken(
  userId: string,
  portfolios?: string[],
  options: SignOptions = {},
  secret: string = TEST_JWT_SECRET,
): string {
  return signToken(portfolios === undefined ? {} : { portfolios }, { subject: userId, ...options }, secret);
}

export type ClientOptions = Partial<ManagerOptions & SocketOptions>;

/** A socket.io-client that does not connect until told (websocket only, no reconnection, a fresh manager). */
export function createClient(url: string, token: string | undefined, options: ClientOptions = {}): Socket {
  return io(url, {
    auth: token === undefined ? {} : { token },
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    autoConnect: false,
    timeout: 5000,
    ...options,
  });
}

/** Connects and resolves once connected; rejects with the connect_error. */
export function connect(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      socket.off('connect_error', onError);
      resolve(socket);
    };
    const onError = (err: Error) => {
      socket.off('connect', onConnect);
      reject(err);
    };
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
    socket.connect();
  });
}

/** Connects a client with a fresh token for `userId` and `portfolios`. */
export async function connectClient(
  url: string,
  userId: string,
  portfolios?: string[],
  options: ClientOptions = {},
): Promise<Socket> {
  return connect(createClient(url, makeToken(userId, portfolios), options));
}

/** The connect_error message a client gets, or throws if it connects. */
export async function connectError(
  url: string,
  token: string | undefined,
  options: ClientOptions = {},
): Promise<string> {
  const socket = createClient(url, token, options);
  try {
    await connect(socket);
  } catch (err) {
    return (err as Error).message;
  } finally {
    socket.disconnect();
  }
  throw new Error('expected the connection to be refused');
}

/**
 * The exact ack of `portfolio:subscribe` without `since` (docs/socket-contract.md): the stream and its current
 * position. `position: null` is what it says while the history is unavailable (Redis unreachable).
 */
export function subscribed(
  portfolioId: string,
  position: unknown = { epoch: expect.any(String), offset: expect.any(Number) },
) {
  return { ok: true, portfolioId, stream: `portfolio:${portfolioId}`, position };
}

const anyPosition = () => ({ epoch: expect.any(String), offset: expect.any(Number) });

/** The exact 202 body of POST /events for a publication recorded in each of `rooms` (its streams). */
export function accepted(event: string, rooms: string[], delivered: number) {
  return {
    event,
    rooms,
    delivered,
    id: expect.any(String),
    positions: Object.fromEntries(rooms.map((r) => [r, anyPosition()])),
  };
}

/** The exact event a client receives: the published fields plus its id and its position in each stream. */
export function positioned(fields: Record<string, unknown>, streams: string[]) {
  return {
    ...fields,
    id: expect.any(String),
    stream: streams[0],
    position: anyPosition(),
    positions: Object.fromEntries(streams.map((s) => [s, anyPosition()])),
  };
}

/** Emits with an acknowledgement, failing after `timeoutMs` instead of hanging. */
export function emitAck<T = any>(socket: Socket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(5000).emitWithAck(event, ...args) as Promise<T>;
}

/** Resolves with the next `event` payload, or rejects after `timeoutMs`. */
export function nextEvent<T = any>(socket: Socket, event: string, timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, onEvent);
      reject(new Error(`no ${event} within ${timeoutMs}ms`));
    }, timeoutMs);
    const onEvent = (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, onEvent);
  });
}

/** Collects every `event` payload a socket receives until stopped. */
export function collect<T = any>(socket: Socket, event: string): { items: T[]; stop(): void } {
  const items: T[] = [];
  const listener = (payload: T) => items.push(payload);
  socket.on(event, listener);
  return { items, stop: () => socket.off(event, listener) };
}

/** Resolves with the disconnect reason. */
export function disconnected(socket: Socket, timeoutMs = 5000): Promise<string> {
  if (!socket.connected) return Promise.resolve('already disconnected');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not disconnected within ${timeoutMs}ms`)), timeoutMs);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

export function closeAll(sockets: Socket[]): void {
  for (const s of sockets.splice(0)) s.disconnect();
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
