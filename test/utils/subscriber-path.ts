import { ChildProcess, spawn } from 'node:child_process';
import { createServer, Server, Socket, connect } from 'node:net';
import { freePort } from './ports';
import { waitForPort } from './redis-server';

/** A TCP forwarder as its own process, so the test can SIGSTOP it: whatever goes through it then stands still. */
const FORWARDER = `
const net = require('node:net');
const [listenPort, targetPort] = process.argv.slice(1).map(Number);
net.createServer((client) => {
  const upstream = net.connect(targetPort, '127.0.0.1');
  client.pipe(upstream).pipe(client);
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end);
}).listen(listenPort, '127.0.0.1');
`;

/**
 * One replica's Redis address, routing by connection: the connection that names itself the Socket.IO adapter's
 * subscriber (ioredis sends `CLIENT SETNAME <service>:socket.io-sub:<instance>` first) goes through a forwarder
 * process, every other connection straight to Redis. `stop()` SIGSTOPs that process, so the replica's subscriber
 * path freezes exactly as a hung subscriber would (TCP stays up, nothing arrives, ioredis notices nothing), while
 * its heartbeat, PING and publishing, on their own connections, carry on. `refuseSubscribers` closes new
 * subscriber connections instead, so a subscriber cut in Redis cannot come back until it is lifted.
 */
export class SubscriberPath {
  port = 0;
  private router: Server | null = null;
  private forwarder: ChildProcess | null = null;
  private forwarderPort = 0;
  private readonly sockets = new Set<Socket>();
  /** Connections routed through the forwarder so far. */
  subscriberConnections = 0;
  /** While true, a new subscriber connection is closed as soon as it names itself (Redis unreachable for it). */
  refuseSubscribers = false;
  /** Subscriber connections closed that way. */
  refused = 0;

  constructor(private readonly redisPort: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.forwarderPort = await freePort();
    this.forwarder = spawn(
      process.execPath,
      ['-e', FORWARDER, String(this.forwarderPort), String(this.redisPort)],
      {
        stdio: 'ignore',
      },
    );
    await waitForPort(this.forwarderPort, 5000);
    this.port = await freePort();
    this.router = createServer((client) => this.route(client));
    await new Promise<void>((resolve) => this.router?.listen(this.port, '127.0.0.1', resolve));
    return this;
  }

  /** SIGSTOP of the forwarder: the subscriber path stands still. */
  stop(): void {
    this.forwarder?.kill('SIGSTOP');
  }

  /** SIGCONT: what queued up in the kernel flows on. */
  resume(): void {
    this.forwarder?.kill('SIGCONT');
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.router ? this.router.close(() => resolve()) : resolve()));
    const proc = this.forwarder;
    if (proc !== null && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await exited;
    }
  }

  private route(client: Socket): void {
    this.sockets.add(client);
    client.once('data', (first: Buffer) => {
      const subscriber = first.toString('latin1').includes(':socket.io-sub:');
      if (subscriber && this.refuseSubscribers) {
        this.refused++;
        client.destroy();
        this.sockets.delete(client);
        return;
      }
      if (subscriber) this.subscriberConnections++;
      const upstream = connect(subscriber ? this.forwarderPort : this.redisPort, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.write(first);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      upstream.on('error', end);
      upstream.on('close', end);
      client.on('close', end);
    });
    client.on('error', () => client.destroy());
  }
}
