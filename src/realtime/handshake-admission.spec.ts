import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { sign } from 'jsonwebtoken';
import type { Socket } from 'socket.io';
import { realtimeMetricsFixture } from '../../test/fixtures/realtime-metrics';
import { AppConfig } from '../config/app-config';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { ConnectionAdmission } from './connection-admission';
import { HandshakeAdmission } from './handshake-admission';
import { CONNECT_ERRORS, REFUSAL_REASONS } from './realtime.events';
import { REALTIME_METRIC } from './realtime.metric-names';
import type { UserConnectionCap } from './user-connection-cap';
import { Registry } from 'prom-client';
import { DisconnectCounter } from './disconnect-reasons';
import { SocketAdapterState } from './socket-adapter-state';

const SECRET = 'handshake-admission-spec-secret-0123456789';

/** What admission touches of a Socket.IO socket: its handshake, data, id, disconnect and the disconnect event. */
class FakeSocket extends EventEmitter {
  data: unknown = undefined;
  connected = true;
  readonly disconnect = jest.fn(() => {
    if (!this.connected) return this;
    this.connected = false;
    this.emit('disconnect', 'server namespace disconnect');
    return this;
  });
  constructor(
    readonly id: string,
    token: string | undefined,
  ) {
    super();
    this.handshake = { auth: token === undefined ? {} : { token } };
  }
  readonly handshake: { auth: Record<string, unknown> };
  get socket(): Socket {
    return this as unknown as Socket;
  }
}

function token(userId: string, expiresInSeconds = 3600): string {
  return sign({ sub: userId, portfolios: ['p1'] }, SECRET, {
    algorithm: 'HS256',
    expiresIn: expiresInSeconds,
  });
}

/** Runs the Socket.IO middleware and resolves with what it passed to next(). */
function runMiddleware(admission: HandshakeAdmission, socket: FakeSocket): Promise<Error | undefined> {
  return new Promise((resolve) => admission.middleware(socket.socket, resolve));
}

describe(HandshakeAdmission.name, () => {
  const config = AppConfig.from({ NODE_ENV: 'test', JWT_SECRET: SECRET, WS_MAX_CONNECTIONS_PER_USER: '2' });
  let fx: ReturnType<typeof realtimeMetricsFixture>;
  let shutdown: ShutdownState;
  let clusterAdmits: jest.Mock<Promise<boolean>, [string, Socket]>;
  let admission: HandshakeAdmission;

  beforeEach(() => {
    fx = realtimeMetricsFixture(config);
    shutdown = new ShutdownState();
    // The cluster-wide cap is the one part that reaches Redis.
    clusterAdmits = jest.fn((_userId: string, _socket: Socket) => Promise.resolve(true));
    admission = new HandshakeAdmission(
      config,
      shutdown,
      new ConnectionAdmission(config, fx.metrics),
      { admit: clusterAdmits } as unknown as UserConnectionCap,
      fx.connections,
      new DisconnectCounter(new Registry(), new SocketAdapterState()),
    );
  });
  afterEach(() => jest.useRealTimers());

  const refused = (reason: string) => fx.value(REALTIME_METRIC.wsConnectionsRefused, { reason });

  it('admits a valid token and hands its identity to the socket', async () => {
    const socket = new FakeSocket('s1', token('alice'));
    await expect(runMiddleware(admission, socket)).resolves.toBeUndefined();
    expect(socket.data).toMatchObject({ userId: 'alice', portfolios: new Set(['p1']) });
    expect(clusterAdmits).toHaveBeenCalledWith('alice', socket);
  });

  it('still answers the handshake, admitting it, if the cluster-wide check ever rejects', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    clusterAdmits.mockRejectedValueOnce(new Error('unexpected'));
    const socket = new FakeSocket('s1', token('alice'));
    await expect(runMiddleware(admission, socket)).resolves.toBeUndefined();
    jest.restoreAllMocks();
  });

  it('refuses a missing or forged token as unauthorized, and counts it', async () => {
    const missing = await runMiddleware(admission, new FakeSocket('s1', undefined));
    const forged = await runMiddleware(
      admission,
      new FakeSocket('s2', sign({ sub: 'x' }, 'another-secret-0123456789abc')),
    );
    expect([missing?.message, forged?.message]).toEqual([
      CONNECT_ERRORS.UNAUTHORIZED,
      CONNECT_ERRORS.UNAUTHORIZED,
    ]);
    expect(await refused(REFUSAL_REASONS.UNAUTHORIZED)).toBe(2);
    expect(clusterAdmits).not.toHaveBeenCalled();
  });

  it('refuses everyone while the instance drains', async () => {
    shutdown.beginDrain();
    const err = await runMiddleware(admission, new FakeSocket('s1', token('alice')));
    expect(err?.message).toBe(CONNECT_ERRORS.SHUTTING_DOWN);
    expect(await refused(REFUSAL_REASONS.SHUTTING_DOWN)).toBe(1);
  });

  it('applies the per-user cap on this instance before asking the cluster, and the cluster cap after', async () => {
    for (const id of ['s1', 's2']) {
      const s = new FakeSocket(id, token('alice'));
      await runMiddleware(admission, s);
      expect(admission.admitConnected(s.socket)).toBe(true);
    }
    const third = await runMiddleware(admission, new FakeSocket('s3', token('alice')));
    expect(third?.message).toBe(CONNECT_ERRORS.TOO_MANY_CONNECTIONS);
    expect(clusterAdmits).toHaveBeenCalledTimes(2);

    clusterAdmits.mockResolvedValueOnce(false);
    const elsewhere = await runMiddleware(admission, new FakeSocket('s4', token('bob')));
    expect(elsewhere?.message).toBe(CONNECT_ERRORS.TOO_MANY_CONNECTIONS);
    expect(await refused(REFUSAL_REASONS.TOO_MANY_CONNECTIONS)).toBe(2);
  });

  it('has the last word when two handshakes of one user passed the middleware together', async () => {
    const sockets = ['s1', 's2', 's3'].map((id) => new FakeSocket(id, token('alice')));
    for (const s of sockets) await expect(runMiddleware(admission, s)).resolves.toBeUndefined();
    expect(sockets.map((s) => admission.admitConnected(s.socket))).toEqual([true, true, false]);
    expect(sockets[2].disconnect).toHaveBeenCalledWith(true);
    expect(fx.connections.totalConnections).toBe(2);
  });

  it('forgets a socket when it disconnects', async () => {
    const s = new FakeSocket('s1', token('alice'));
    await runMiddleware(admission, s);
    admission.admitConnected(s.socket);
    expect(fx.connections.uniqueUsers).toBe(1);
    s.disconnect();
    expect(fx.connections.totalConnections).toBe(0);
  });

  it('disconnects the socket when its token expires', async () => {
    const s = new FakeSocket('s1', token('alice', 60));
    await runMiddleware(admission, s);
    jest.useFakeTimers({ now: Date.now() });
    expect(admission.admitConnected(s.socket)).toBe(true);
    jest.advanceTimersByTime(59_000);
    expect(s.disconnect).not.toHaveBeenCalled();
    jest.advanceTimersByTime(2_000);
    expect(s.disconnect).toHaveBeenCalledWith(true);
    expect(fx.connections.totalConnections).toBe(0);
  });
});
