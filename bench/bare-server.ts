/**
 * The baseline: a bare Socket.IO server of the installed version doing the work of bench/lib/baseline.ts, with
 * events reaching it through plain `socket.on` listeners: the fastest way Socket.IO offers.
 *
 * Env: PORT and those of bench/lib/baseline.ts.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
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

const http = createServer((req, res) => routes(req, res));
const io = new Server(http, socketOptions);
const routes = httpRoutes(() => io);

io.use(authenticate);
io.on('connection', (socket) => {
  onConnection(socket);
  socket.on(SUBSCRIBE, (payload: unknown, ack?: (a: Ack) => void) => {
    const answer = subscribe(socket, payload);
    if (typeof ack === 'function') ack(answer);
  });
  socket.on(UNSUBSCRIBE, (payload: unknown, ack?: (a: Ack) => void) => {
    const answer = unsubscribe(socket, payload);
    if (typeof ack === 'function') ack(answer);
  });
});

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => {
  void io.close();
  process.exit(0);
});
