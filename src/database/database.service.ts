import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { ConnectionStates, type Connection } from 'mongoose';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';

export const MONGO_SERVER_SELECTION_TIMEOUT_MS = 5000;
const RECONNECT_DELAY_MS = 5000;

/** Mongoose readyState names, for messages. */
const READY_STATES: Record<number, string> = {
  0: 'disconnected',
  1: 'connected',
  2: 'connecting',
  3: 'disconnecting',
  99: 'uninitialized',
};

export interface DatabasePing {
  latencyMs: number;
  readyState: number;
}

/**
 * Owns the MongoDB connection's life. The connection object always exists (so models can be declared on it),
 * but it is opened only when MONGODB_URI is set, in the background: an unreachable MongoDB at boot never blocks
 * or kills start-up. The driver reconnects by itself after a connection has been made; before the first
 * success we retry here, because Mongoose does not retry an initial connection.
 */
@Injectable()
export class DatabaseService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseService.name);
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private everConnected = false;
  private downSince: number | null = null;

  constructor(
    @InjectConnection() readonly connection: Connection,
    private readonly config: AppConfig,
  ) {
    connection.on('error', (err: Error) => this.markDown(err.message));
    connection.on('disconnected', () => {
      if (this.everConnected) this.markDown('disconnected');
    });
    connection.on('connected', () => {
      if (this.downSince !== null) {
        this.logger.log({ message: 'MongoDB connection restored', outageMs: Date.now() - this.downSince });
      } else {
        this.logger.log({ message: 'MongoDB connected' });
      }
      this.everConnected = true;
      this.downSince = null;
    });
  }

  get isConfigured(): boolean {
    return this.config.env.MONGODB_URI !== undefined;
  }

  get isConnected(): boolean {
    return this.connection.readyState === ConnectionStates.connected;
  }

  onApplicationBootstrap(): void {
    if (this.isConfigured) this.open();
  }

  private open(): void {
    if (this.stopped) return;
    const uri = this.config.env.MONGODB_URI;
    if (uri === undefined) return;
    this.connection
      .openUri(uri, {
        bufferCommands: false,
        serverSelectionTimeoutMS: MONGO_SERVER_SELECTION_TIMEOUT_MS,
        connectTimeoutMS: MONGO_SERVER_SELECTION_TIMEOUT_MS,
        socketTimeoutMS: 30_000,
        maxPoolSize: 10,
        autoIndex: false,
      })
      .then(
        () => undefined,
        (err: unknown) => {
          this.markDown(errorMessage(err));
          if (this.stopped) return;
          this.retryTimer = setTimeout(() => this.open(), RECONNECT_DELAY_MS);
          this.retryTimer.unref();
        },
      );
  }

  private markDown(reason: string): void {
    if (this.downSince !== null || this.stopped) return;
    this.downSince = Date.now();
    this.logger.warn({ message: 'MongoDB unavailable', reason, everConnected: this.everConnected });
  }

  /** A real `ping` command under `timeoutMs`: readyState alone says "up" during an election or a freeze. */
  async ping(timeoutMs: number): Promise<DatabasePing> {
    if (!this.isConfigured) throw new Error('Database not configured');
    const readyState = this.connection.readyState as number;
    const db = this.connection.db;
    if (readyState !== 1 || db === undefined) {
      throw new Error(`Database not connected (state: ${READY_STATES[readyState] ?? readyState})`);
    }
    const start = performance.now();
    await withTimeout(db.admin().ping(), timeoutMs, `Database did not answer within ${timeoutMs}ms`);
    return { latencyMs: performance.now() - start, readyState };
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    try {
      // Mongoose's close() waits for a pending first connect (up to the server-selection timeout); closing the
      // driver's client aborts it at once.
      if (this.connection.readyState === ConnectionStates.connecting) {
        await withTimeout(this.connection.getClient().close(true), 2000, 'MongoDB close timed out');
      }
      await withTimeout(this.connection.close(true), 2000, 'MongoDB close timed out');
    } catch (err) {
      this.logger.warn({ message: 'MongoDB close failed', error: errorMessage(err) });
    }
  }
}
