/**
 * The plain Nest reference: the work of bench/lib/baseline.ts in the idiomatic Nest 11 shape, a
 * `@WebSocketGateway` with `@SubscribeMessage` handlers taking `@MessageBody()` and `@ConnectedSocket()`, whose
 * return value Nest sends as the ack, on Nest's default `IoAdapter`. The gap between it and bare-server.ts is
 * what Nest's per-event pipeline costs; the gap between it and ours is what our dispatch saves.
 *
 * Env: PORT and those of bench/lib/baseline.ts.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import {
  authenticate,
  httpRoutes,
  onConnection,
  socketOptions,
  SUBSCRIBE,
  subscribe,
  UNSUBSCRIBE,
  unsubscribe,
} from './lib/baseline';
import type { Ack } from './lib/baseline';

@WebSocketGateway(socketOptions)
class PlainGateway implements OnGatewayInit, OnGatewayConnection {
  @WebSocketServer()
  server!: Server;

  afterInit(server: Server): void {
    // Nest guards do not run for the handshake: authentication is Socket.IO middleware, as in bare-server.ts.
    server.use(authenticate);
  }

  handleConnection(socket: Socket): void {
    onConnection(socket);
  }

  @SubscribeMessage(SUBSCRIBE)
  subscribe(@MessageBody() payload: unknown, @ConnectedSocket() socket: Socket): Ack {
    return subscribe(socket, payload);
  }

  @SubscribeMessage(UNSUBSCRIBE)
  unsubscribe(@MessageBody() payload: unknown, @ConnectedSocket() socket: Socket): Ack {
    return unsubscribe(socket, payload);
  }
}

@Module({ providers: [PlainGateway] })
class PlainModule {}

async function main(): Promise<void> {
  // No body parser: the shared HTTP routes read POST /events themselves, as in bare-server.ts.
  const app = await NestFactory.create(PlainModule, { logger: ['error', 'warn'], bodyParser: false });
  const gateway = app.get(PlainGateway);
  // The gateway's server exists only once the app is initialised, hence the getter.
  app.use(httpRoutes(() => gateway.server));
  await app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
  process.on('SIGTERM', () => {
    void app.close().finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
