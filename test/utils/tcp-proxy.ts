import { createServer, connect, type Server, type Socket } from 'node:net';

/** One client connection and the backend connection it is piped to. */
interface Pipe {
  client: Socket;
  upstream: Socket;
  port: number;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one or more server ports: the client's network, owned by the test.
 * `cut()` drops every connection at once (the client sees its transport close, as when a phone changes network),
 * `block()` also turns new connections away until `unblock()`, and `route()` says where new connections go
 * (a load balancer sending a reconnecting client to another replica). A backend that refuses the TCP
 * connection is skipped for the next one in the list, as load balancers do.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pipes = new Set<Pipe>();
  private blocked = false;
  private targets: () => number[];
  port = 0;
  /** Backend port of every connection made through the proxy, in order. */
  readonly connections: number[] = [];

  private constructor(targets: number[] | (() => number[])) {
    this.targets = typeof targets === 'function' ? targets : () => targets;
    this.server = createServer((client) => this.accept(client));
  }

  /** A proxy sending new connections to the first of `targets` that accepts them. */
  static async start(targets: number[] | (() => number[])): Promise<TcpProxy> {
    const proxy = new TcpProxy(targets);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = proxy.server.address();
    proxy.port = typeof address === 'object' && address !== null ? address.port : 0;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Backend ports of the connections open right now. */
  get activeTargets(): number[] {
    return [...this.pipes].map((p) => p.port);
  }

  /** New connections go to these ports, first that accepts (existing ones are left alone). */
  route(targets: number[] | (() => number[])): void {
    this.targets = typeof targets === 'function' ? targets : () => targets;
  }

  /** Drops every open connection, both ways, at once. Returns how many were dropped. */
  cut(): number {
    const pipes = [...this.pipes];
    this.pipes.clear();
    for (const pipe of pipes) {
      pipe.client.destroy();
      pipe.upstream.destroy();
    }
    return pipes.length;
  }

  /** The network is down: open connections drop and new ones are closed as soon as they arrive. */
  block(): void {
    this.blocked = true;
    this.cut();
  }

  unblock(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.blocked = true;
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.on('error', () => client.destroy());
    if (this.blocked) {
      client.destroy();
      return;
    }
    client.pause();
    this.dial(client, this.targets(), 0);
  }

  /** Connects to targets[index], or the next one if it refuses; the client's bytes wait meanwhile. */
  private dial(client: Socket, targets: number[], index: number): void {
    if (index >= targets.length || client.destroyed || this.blocked) {
      client.destroy();
      return;
    }
    const port = targets[index];
    const upstream = connect(port, '127.0.0.1');
    const onFail = () => {
      upstream.destroy();
      this.dial(client, targets, index + 1);
    };
    upstream.once('error', onFail);
    upstream.once('connect', () => {
      upstream.off('error', onFail);
      if (client.destroyed || this.blocked) {
        upstream.destroy();
        client.destroy();
        return;
      }
      const pipe: Pipe = { client, upstream, port };
      this.pipes.add(pipe);
      this.connections.push(port);
      const drop = () => {
        this.pipes.delete(pipe);
        client.destroy();
        upstream.destroy();
      };
      upstream.on('error', drop);
      client.on('error', drop);
      upstream.on('close', drop);
      client.on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}
