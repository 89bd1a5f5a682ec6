import { Injectable, Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { ConnectionAdmission } from './connection-admission';
import { ConnectionRegistry } from './connection-registry';
import { DisconnectCounter } from './disconnect-reasons';
import { CONNECT_ERRORS, DISCONNECT_REASONS, REFUSAL_REASONS, RefusalReason } from './realtime.events';
import { parsePosition } from './dto/portfolio-subscription.dto';
import { SocketIdentity, verifyAccessToken } from './socket-auth';
import { UserConnectionCap } from './user-connection-cap';

/** setTimeout's ceiling: a later expiry re-arms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Who may hold a Socket.IO connection, after engine.io let the request in (ConnectionAdmission): the handshake
 * token, the per-user cap (this instance first, free, then across replicas through UserConnectionCap), a
 * draining instance refusing newcomers, and the disconnect when the token expires. Every refusal is counted
 * and logged by ConnectionAdmission and reaches the client as `connect_error` with a CONNECT_ERRORS message.
 */
@Injectable()
export class HandshakeAdmission {
  private readonly logger = new Logger('RealtimeGateway');
  private readonly maxPerUser: number;

  constructor(
    private readonly config: AppConfig,
    private readonly shutdown: ShutdownState,
    private readonly admission: ConnectionAdmission,
    private readonly userCap: UserConnectionCap,
    private readonly registry: ConnectionRegistry,
    private readonly disconnects: DisconnectCounter,
  ) {
    this.maxPerUser = config.ws.maxConnectionsPerUser;
  }

  /** Socket.IO middleware (`server.use`): runs before any connection handler. Nest guards do not run here. */
  readonly middleware = (socket: Socket, next: (err?: Error) => void): void => {
    const refusal = this.authenticate(socket);
    if (refusal !== undefined) return next(refusal);
    const { userId } = socket.data as SocketIdentity;
    this.userCap
      .admit(userId, socket)
      // admit() fails open by itself; should it ever reject, the handshake still gets an answer, the same one.
      .catch((err: unknown) => {
        this.logger.error({
          message: 'Cluster-wide per-user check failed; admitted on this instance alone',
          err,
        });
        return true;
      })
      .then((admitted) =>
        next(
          admitted
            ? undefined
            : this.refuse(REFUSAL_REASONS.TOO_MANY_CONNECTIONS, CONNECT_ERRORS.TOO_MANY_CONNECTIONS, {
                userId,
                scope: 'cluster',
              }),
        ),
      )
      .catch((err: unknown) => this.logger.error({ message: 'WebSocket admission failed', err }));
  };

  /**
   * Registers a socket that passed the middleware, and arms its expiry. False when the per-user cap refused it
   * after all (then it is already disconnected): two handshakes of one user can pass the middleware in the same
   * tick, and the registry has the last word.
   */
  admitConnected(socket: Socket): boolean {
    const identity = socket.data as SocketIdentity;
    const { userId } = identity;
    if (this.registry.add(userId, socket.id) > this.maxPerUser) {
      this.registry.remove(userId, socket.id);
      this.admission.refused(REFUSAL_REASONS.TOO_MANY_CONNECTIONS, { userId, scope: 'instance' });
      socket.disconnect(true);
      return false;
    }
    // Cleanup first: an expiry armed in the past disconnects at once, and a disconnect with no listener yet
    // would leave this socket in the registry for good.
    let expiry: { timer: NodeJS.Timeout } | null = null;
    socket.once('disconnect', () => {
      if (expiry !== null) clearTimeout(expiry.timer);
      this.registry.remove(userId, socket.id);
    });
    expiry = this.scheduleExpiry(socket, identity.expiresAt);
    return socket.connected;
  }

  private authenticate(socket: Socket): Error | undefined {
    if (this.shutdown.isDraining)
      return this.refuse(REFUSAL_REASONS.SHUTTING_DOWN, CONNECT_ERRORS.SHUTTING_DOWN);
    const auth = socket.handshake.auth as { token?: unknown; since?: unknown } | undefined;
    const identity = verifyAccessToken(auth?.token, this.config.jwt);
    if (identity === null) return this.refuse(REFUSAL_REASONS.UNAUTHORIZED, CONNECT_ERRORS.UNAUTHORIZED);
    // The user stream's resume point (docs/socket-contract.md#resume): checked like any payload.
    const since = parsePosition(auth?.since ?? null);
    if (!since.ok) return this.refuse(REFUSAL_REASONS.INVALID_SINCE, CONNECT_ERRORS.INVALID_SINCE);
    identity.userSince = since.value;
    if (this.registry.countFor(identity.userId) >= this.maxPerUser)
      return this.refuse(REFUSAL_REASONS.TOO_MANY_CONNECTIONS, CONNECT_ERRORS.TOO_MANY_CONNECTIONS, {
        userId: identity.userId,
        scope: 'instance',
      });
    socket.data = identity;
    return undefined;
  }

  private refuse(reason: RefusalReason, message: string, fields?: Record<string, unknown>): Error {
    this.admission.refused(reason, fields);
    return new Error(message);
  }

  /** Disconnects the socket when its token expires (timers are capped, so far expiries re-arm). */
  private scheduleExpiry(socket: Socket, expiresAt: number): { timer: NodeJS.Timeout } {
    const handle = { timer: undefined as unknown as NodeJS.Timeout };
    const arm = () => {
      const left = expiresAt - Date.now();
      if (left <= 0) {
        this.logger.debug({
          message: 'WebSocket token expired, disconnecting',
          userId: (socket.data as SocketIdentity).userId,
        });
        this.disconnects.mark(socket, DISCONNECT_REASONS.TOKEN_EXPIRED);
        socket.disconnect(true);
        return;
      }
      handle.timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      handle.timer.unref();
    };
    arm();
    return handle;
  }
}
