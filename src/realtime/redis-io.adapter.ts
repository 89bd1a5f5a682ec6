import { INestApplicationContext, Logger } from '@nestjs/common';
import type { Server as HttpServer } from 'node:http';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { createAdapter } from '@socket.io/redis-adapter';
import type Redis from 'ioredis';
import type { Observable } from 'rxjs';
import { Server, ServerOptions, Socket } from 'socket.io';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../common/with-timeout';
import { MetricsService } from '../metrics/metrics.service';
import { quitRedis, RedisService } from '../redis/redis.service';
import type { ConnectionAdmission } from './connection-admission';
import type { SocketAdapterState } from './socket-adapter-state';
import { socketServerOptions } from './socket-server.options';

/** How long start-up waits for the adapter's Redis clients before listening anyway (they keep retrying). */
const CONNECT_WAIT_MS = 5000;
/** Cross-instance requests (fetchSockets, serverSideEmit) give up on a silent peer after this long. */
const REQUESTS_TIMEOUT_MS = 2000;
const PUBLISH_ERROR_KIND = 'redis_adapter_publish';

/**
 * Takes over some of a gateway's message handlers on a socket, binding its own listeners for them; the
 * adapter binds the handlers it returns through Nest's own pipeline.
 */
export interface SocketMessageBinder {
  bind(socket: Socket, handlers: MessageMappingProperties[]): MessageMappingProperties[];
}

/**
 * Creates the Socket.IO server with this project's options and, when REDIS_URL is set, the Redis adapter that
 * makes several replicas one server. `connect()` must be awaited before the app listens.
 *
 * The two Redis clients behave differently on purpose (checked against a real Redis being killed):
 * - subscriber: offline queue on and retries forever, so its subscriptions survive any outage and are
 *   restored by ioredis when Redis returns;
 * - publisher: the shared policy (offline queue off once ready, command timeout), so during an outage each
 *   publish fails at once instead of piling up, and unanswered commands are never re-sent late.
 * The adapter publishes without handling the promise; every command promise of both clients gets a handler
 * here, so an outage is counted and logged once instead of killing the process with unhandled rejections.
 */
export class RedisIoAdapter extends IoAdapter {
  private readonly logger = new Logger(RedisIoAdapter.name);
  private pub: Redis | null = null;
  private sub: Redis | null = null;
  private adapterFactory: ReturnType<typeof createAdapter> | null = null;
  private publishFailingSince: number | null = null;
  private recyclingPublisher = false;

  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
    private readonly admission: ConnectionAdmission,
    private readonly state: SocketAdapterState,
    private readonly binder?: SocketMessageBinder,
  ) {
    super(app);
  }

  /** Nest calls this once per gateway per connected socket; the binder's direct dispatch goes first. */
  override bindMessageHandlers(
    socket: Socket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    const rest = this.binder === undefined ? handlers : this.binder.bind(socket, handlers);
    if (rest.length > 0) super.bindMessageHandlers(socket, rest, transform);
  }

  /** Both adapter clients connected (false after dispose()). */
  private get redisConnected(): boolean {
    return this.pub?.status === 'ready' && this.sub?.status === 'ready';
  }

  async connect(waitMs = CONNECT_WAIT_MS): Promise<void> {
    if (!this.redis.isConfigured) return;
    const pub = this.redis.createClient('socket.io-pub', { autoResendUnfulfilledCommands: false });
    const sub = this.redis.createClient('socket.io-sub', {
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.pub = pub;
    this.sub = sub;
    this.handleRejections(pub, 'pub');
    this.handleRejections(sub, 'sub');
    pub.on('ready', () => this.onPublisherReady());

    const [pubReady, subReady] = await Promise.all([whenReady(pub, waitMs), whenReady(sub, waitMs)]);
    if (!pubReady || !subReady) {
      this.logger.warn({
        message:
          'Redis adapter: Redis not reachable at start-up; serving local clients, cross-instance delivery starts when it connects',
        waitedMs: waitMs,
      });
    }
    this.adapterFactory = createAdapter(pub, sub, { requestsTimeout: REQUESTS_TIMEOUT_MS });
    this.logger.log({ message: 'Socket.IO Redis adapter enabled' });
    if (this.config.ws.transports.includes('polling')) {
      this.logger.warn({
        message:
          'Redis adapter is on and HTTP long-polling is allowed: without sticky sessions (Railway) polling clients fail across replicas; set WS_TRANSPORTS=websocket',
      });
    }
  }

  /**
   * Builds the server from the project's own socket.io rather than through IoAdapter's: npm currently nests a
   * second socket.io copy under @nestjs/platform-socket.io, and the gateway's types, the Redis adapter and the
   * benchmark all use the top-level one.
   */
  override createIOServer(port: number, options?: Partial<ServerOptions>): Server {
    const opts = { ...options, ...socketServerOptions(this.config, this.admission.allowRequest) };
    const httpServer = this.httpServer as HttpServer | undefined;
    const server =
      httpServer !== undefined && port === 0 ? new Server(httpServer, opts) : new Server(port, opts);
    if (this.adapterFactory !== null) {
      server.adapter(this.adapterFactory);
      this.state.redisAttached(() => this.redisConnected);
    }
    this.admission.attach(server);
    this.state.serverCreated(server);
    return server;
  }

  /**
   * Closes this instance's connections only: never `disconnectSockets()`, which the Redis adapter would carry
   * to every replica. Closing at the engine level gives each client a plain `transport close`, after which
   * it reconnects (to another replica). The HTTP server itself is closed by Nest afterwards.
   */
  override async close(nestServer: Parameters<IoAdapter['close']>[0]): Promise<void> {
    // engine.io reports these closes as `forced close`, which alone cannot tell a shutdown from a bad packet.
    this.state.closing = true;
    nestServer.engine?.close();
    try {
      await nestServer.of('/').adapter.close();
    } catch (err) {
      this.logger.debug({ message: 'Socket.IO adapter close failed', error: errorMessage(err) });
    }
  }

  override async dispose(): Promise<void> {
    const clients = [this.pub, this.sub].filter((c): c is Redis => c !== null);
    this.pub = null;
    this.sub = null;
    await Promise.all(clients.map((c) => quitRedis(c)));
  }

  private handleRejections(client: Redis, role: 'pub' | 'sub'): void {
    const send = client.sendCommand.bind(client);
    client.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
      const result = send(...args);
      const name = args[0].name;
      if (result instanceof Promise)
        result.catch((err: unknown) => this.onCommandError(client, role, name, err));
      return result;
    };
  }

  private onCommandError(client: Redis, role: 'pub' | 'sub', command: string, err: unknown): void {
    if (role === 'pub' && command === 'publish') {
      this.metrics.recordInternalError(PUBLISH_ERROR_KIND);
      if (this.publishFailingSince === null) {
        this.publishFailingSince = Date.now();
        this.logger.error({
          message: 'Redis adapter publish failed: cross-instance delivery is degraded until Redis is back',
          error: errorMessage(err),
        });
      }
      // A Redis that accepts commands but never answers keeps every unanswered one in memory: start a fresh
      // connection instead (pending commands are dropped, not re-sent).
      if (
        errorMessage(err) === 'Command timed out' &&
        client.status === 'ready' &&
        !this.recyclingPublisher
      ) {
        this.recyclingPublisher = true;
        client.disconnect(true);
      }
      return;
    }
    this.logger.debug({ message: 'Redis adapter command failed', role, command, error: errorMessage(err) });
  }

  private onPublisherReady(): void {
    this.recyclingPublisher = false;
    if (this.publishFailingSince === null) return;
    this.logger.log({
      message: 'Redis adapter publishing again',
      outageMs: Date.now() - this.publishFailingSince,
    });
    this.publishFailingSince = null;
  }
}

/** Resolves true once the client is ready, false after `ms` (the client keeps trying in the background). */
function whenReady(client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, ms);
    timer.unref();
    client.once('ready', onReady);
  });
}
