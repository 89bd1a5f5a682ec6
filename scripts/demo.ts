/**
 * `npm run demo`: the server with its embedded defaults (no Redis, no MongoDB), a publisher posting portfolio
 * updates and trade executions through POST /events, and a few dozen simulated clients that subscribe, switch
 * portfolios, drop and reconnect, so the dashboard has something to show. Runs until Ctrl-C (SIGINT/SIGTERM),
 * or for --seconds N (DEMO_SECONDS), then stops the clients, the publisher and the server it started, and exits
 * 0 once the server has exited cleanly.
 *
 * Options: --port N (PORT; 3000 like `npm start`, another free port when taken), --clients N (40),
 * --seconds N, --log FILE (the server's log; a temporary file by default).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sign } from 'jsonwebtoken';
import { io, Socket } from 'socket.io-client';
import { DEVELOPMENT_JWT_SECRET } from '../src/config/app-config';
import { CLIENT_EVENTS, SERVER_EVENTS } from '../src/realtime/realtime.events';

const ROOT = join(__dirname, '..');
const HOST = '127.0.0.1';
const STATUS_EVERY_MS = 5000;
const READY_TIMEOUT_MS = 30_000;
/** The server's own shutdown gives up after 10 s (SHUTDOWN_TIMEOUT_MS); a little more, then it is killed. */
const SERVER_EXIT_TIMEOUT_MS = 15_000;
const PUBLISH_TIMEOUT_MS = 2000;

// ---- options ---------------------------------------------------------------------------------------------------

function wholeNumber(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`demo: ${name} must be a whole number, got "${text}"\n`);
    process.exit(2);
  }
  return n;
}

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    clients: { type: 'string' },
    seconds: { type: 'string' },
    log: { type: 'string' },
  },
});
const options = {
  port: wholeNumber('--port', args.port ?? process.env.PORT, 3000),
  clients: wholeNumber('--clients', args.clients, 40),
  /** 0: until Ctrl-C. */
  seconds: wholeNumber('--seconds', args.seconds ?? process.env.DEMO_SECONDS, 0),
  log: args.log ?? join(mkdtempSync(join(tmpdir(), 'realtime-demo-')), 'server.log'),
};
/** Honoured when the caller sets it, so the demo can show the dashboard behind its password too. */
const METRICS_TOKEN = process.env.METRICS_TOKEN?.trim() || undefined;
/** A fresh publisher secret per run: the demo is the only publisher. */
const PUBLISH_TOKEN = randomBytes(24).toString('base64url');

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

// ---- the market and the portfolios -----------------------------------------------------------------------------

const SYMBOLS: Record<string, number> = {
  AAPL: 228,
  MSFT: 415,
  NVDA: 131,
  AMZN: 186,
  GOOGL: 163,
  META: 560,
  TSLA: 248,
  JPM: 221,
  V: 286,
  XOM: 118,
  KO: 63,
  JNJ: 155,
};
const prices = new Map(Object.entries(SYMBOLS));

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)];
}

/** A random walk of about ±0.1 % per step, the way quotes move tick by tick. */
function movePrice(symbol: string): number {
  const price = prices.get(symbol) ?? 100;
  const next = Math.max(1, price * (1 + (Math.random() - 0.5) * 0.002));
  prices.set(symbol, next);
  return next;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

interface Portfolio {
  id: string;
  owner: string;
  cash: number;
  positions: Map<string, number>;
  openValue: number;
}

const PORTFOLIO_NAMES = [
  'growth',
  'income',
  'tech-leaders',
  'dividend',
  'balanced',
  'energy',
  'value',
  'momentum',
  'retirement',
  'esg',
  'large-cap',
  'swing',
];
/** Users outnumber nothing: some users run two devices, so connections exceed unique users as in production. */
const USER_COUNT = Math.max(1, Math.ceil(options.clients * 0.75));
const userId = (i: number) => `trader-${String(i + 1).padStart(2, '0')}`;

function portfolioValue(p: Portfolio): number {
  let value = p.cash;
  for (const [symbol, qty] of p.positions) value += qty * (prices.get(symbol) ?? 0);
  return value;
}

const portfolios: Portfolio[] = PORTFOLIO_NAMES.map((id, i) => {
  const positions = new Map<string, number>();
  while (positions.size < 4)
    positions.set(pick(Object.keys(SYMBOLS)), 10 * (1 + Math.floor(Math.random() * 20)));
  const p: Portfolio = { id, owner: userId(i % USER_COUNT), cash: 25_000, positions, openValue: 0 };
  p.openValue = portfolioValue(p);
  return p;
});

function portfolioUpdate(p: Portfolio): Record<string, unknown> {
  const holdings = [...p.positions].map(([symbol, quantity]) => {
    const price = movePrice(symbol);
    return { symbol, quantity, price: round2(price), marketValue: round2(quantity * price) };
  });
  const value = portfolioValue(p);
  return {
    portfolioId: p.id,
    totalValue: round2(value),
    cash: round2(p.cash),
    dayChange: round2(value - p.openValue),
    dayChangePct: round2(((value - p.openValue) / p.openValue) * 100),
    positions: holdings,
    asOf: new Date().toISOString(),
  };
}

/** A filled order: buys spend cash, sells need the shares; the position changes so later updates show it. */
function tradeExecution(p: Portfolio): Record<string, unknown> {
  const symbol = pick(Object.keys(SYMBOLS));
  const held = p.positions.get(symbol) ?? 0;
  const side = held > 0 && Math.random() < 0.45 ? 'sell' : 'buy';
  const quantity =
    side === 'sell'
      ? Math.max(1, Math.floor(held * Math.random() * 0.5))
      : 1 + Math.floor(Math.random() * 25);
  const price = movePrice(symbol);
  p.positions.set(symbol, held + (side === 'buy' ? quantity : -quantity));
  if (p.positions.get(symbol) === 0) p.positions.delete(symbol);
  p.cash += (side === 'buy' ? -1 : 1) * quantity * price;
  return {
    tradeId: randomUUID(),
    portfolioId: p.id,
    symbol,
    side,
    quantity,
    price: round2(price),
    notional: round2(quantity * price),
    status: 'filled',
    executedAt: new Date().toISOString(),
  };
}

// ---- the server ------------------------------------------------------------------------------------------------

/** `port` if it is free on HOST, else one the system hands out (printed, so the URL is never a guess). */
function choosePort(port: number): Promise<number> {
  const tryListen = (p: number) =>
    new Promise<number | null>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(null));
      srv.listen(p, HOST, () => {
        const address = srv.address();
        const chosen = typeof address === 'object' && address !== null ? address.port : null;
        srv.close(() => resolve(chosen));
      });
    });
  return tryListen(port).then((p) => p ?? tryListen(0).then((q) => q ?? port));
}

function startServer(port: number): ChildProcess {
  const log = createWriteStream(options.log, { flags: 'a' });
  // Only what the demo means: the schema's defaults for everything else, whatever the caller's shell exports.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'development',
    HOST,
    PORT: String(port),
    PUBLISH_TOKEN,
  };
  if (METRICS_TOKEN !== undefined) env.METRICS_TOKEN = METRICS_TOKEN;
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  return child;
}

function authHeaders(): Record<string, string> {
  return METRICS_TOKEN === undefined ? {} : { Authorization: `Bearer ${METRICS_TOKEN}` };
}

/** Until /metrics answers 200: the gateway is up, so clients can connect. */
async function waitUntilReady(base: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null)
      throw new Error(`the server exited (${server.exitCode ?? server.signalCode}) before it was ready`);
    const ok = await fetch(`${base}/metrics`, {
      headers: authHeaders(),
      signal: AbortSignal.timeout(1000),
    }).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the server did not answer /metrics within ${READY_TIMEOUT_MS / 1000} s`);
}

// ---- the publisher ---------------------------------------------------------------------------------------------

const stats = {
  updates: 0,
  trades: 0,
  publishFailures: 0,
  received: 0,
  reconnects: 0,
  drops: 0,
  switches: 0,
};

class Publisher {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly nextUpdate = new Map<string, number>();

  constructor(private readonly base: string) {}

  /** Every 250 ms: each portfolio about once a second (with jitter), and about three trades a second. */
  start(): void {
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const p of portfolios) {
        if ((this.nextUpdate.get(p.id) ?? 0) > now) continue;
        this.nextUpdate.set(p.id, now + 700 + Math.random() * 600);
        this.post(
          { event: SERVER_EVENTS.PORTFOLIO_UPDATE, portfolioId: p.id, data: portfolioUpdate(p) },
          'updates',
        );
      }
      if (Math.random() < 0.75) {
        const p = pick(portfolios);
        const trade = tradeExecution(p);
        this.post(
          { event: SERVER_EVENTS.TRADE_EXECUTED, userId: p.owner, portfolioId: p.id, data: trade },
          'trades',
        );
      }
    }, 250);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inFlight]);
  }

  private post(body: Record<string, unknown>, counter: 'updates' | 'trades'): void {
    const sent = fetch(`${this.base}/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${PUBLISH_TOKEN}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
    }).then(
      (res) => {
        if (res.ok) stats[counter]++;
        else stats.publishFailures++;
      },
      () => {
        stats.publishFailures++;
      },
    );
    const tracked = sent.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}

// ---- the clients -----------------------------------------------------------------------------------------------

/**
 * One app user's device: its token names the 2-3 portfolios it may watch; it watches one or two of them,
 * switches now and then, loses its network at random (the manager reconnects and it subscribes again), and
 * sometimes closes the app for a few seconds.
 */
class SimulatedClient {
  private readonly socket: Socket;
  private readonly allowed: string[];
  private watching = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private away: NodeJS.Timeout | null = null;
  private connectedOnce = false;

  constructor(
    base: string,
    private readonly user: string,
  ) {
    const own = portfolios.filter((p) => p.owner === user).map((p) => p.id);
    const allowed = new Set(own);
    while (allowed.size < Math.min(portfolios.length, own.length + 2)) allowed.add(pick(portfolios).id);
    this.allowed = [...allowed];
    this.socket = io(base, {
      transports: ['websocket'],
      // A fresh token on every (re)connection, like an app refreshing its session: the server wants `exp`.
      auth: (cb) => cb({ token: this.token() }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
      forceNew: true,
    });
    this.socket.on('connect', () => {
      if (this.connectedOnce) stats.reconnects++;
      this.connectedOnce = true;
      this.watching = new Set(this.allowed.slice(0, 1 + Math.floor(Math.random() * 2)));
      for (const id of this.watching)
        this.socket.emit(CLIENT_EVENTS.SUBSCRIBE, { portfolioId: id }, () => undefined);
    });
    this.socket.on(SERVER_EVENTS.PORTFOLIO_UPDATE, () => stats.received++);
    this.socket.on(SERVER_EVENTS.TRADE_EXECUTED, () => stats.received++);
    this.timer = setInterval(() => this.act(), 1000 + Math.random() * 500);
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.away !== null) clearTimeout(this.away);
    this.socket.disconnect();
  }

  private token(): string {
    return sign({ portfolios: this.allowed }, DEVELOPMENT_JWT_SECRET, {
      algorithm: 'HS256',
      subject: this.user,
      expiresIn: '1h',
    });
  }

  private act(): void {
    if (!this.socket.connected) return;
    const roll = Math.random();
    if (roll < 0.02) {
      // The network goes: the transport closes under the client and its manager reconnects by itself.
      stats.drops++;
      this.socket.io.engine.close();
    } else if (roll < 0.03) {
      // The app is closed and opened again a few seconds later.
      stats.drops++;
      this.socket.disconnect();
      this.away = setTimeout(() => this.socket.connect(), 2000 + Math.random() * 6000);
    } else if (roll < 0.2) {
      this.switchPortfolio();
    }
  }

  private switchPortfolio(): void {
    const from = pick([...this.watching]);
    const to = pick(this.allowed.filter((id) => !this.watching.has(id)));
    if (from === undefined || to === undefined) return;
    stats.switches++;
    this.watching.delete(from);
    this.watching.add(to);
    this.socket.emit(CLIENT_EVENTS.UNSUBSCRIBE, { portfolioId: from }, () => undefined);
    this.socket.emit(CLIENT_EVENTS.SUBSCRIBE, { portfolioId: to }, () => undefined);
  }
}

// ---- run -------------------------------------------------------------------------------------------------------

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function main(): Promise<number> {
  const port = await choosePort(options.port);
  const base = `http://${HOST}:${port}`;
  const server = startServer(port);
  let stopping: Promise<number> | null = null;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let publisher: Publisher | null = null;
  const clients: SimulatedClient[] = [];
  let statusTimer: NodeJS.Timeout | null = null;
  let deadline: NodeJS.Timeout | null = null;

  /** Clients and publisher first (so the server sees ordinary disconnects), then the server by its PID. */
  const stop = (why: string): Promise<number> => {
    stopping ??= (async () => {
      say(`\nStopping (${why})…`);
      if (statusTimer !== null) clearInterval(statusTimer);
      if (deadline !== null) clearTimeout(deadline);
      for (const c of clients) c.close();
      await publisher?.stop();
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGTERM');
      if (!(await waitForExit(server, SERVER_EXIT_TIMEOUT_MS))) {
        say(
          `The server (pid ${server.pid}) did not stop within ${SERVER_EXIT_TIMEOUT_MS / 1000} s: killing it`,
        );
        server.kill('SIGKILL');
        await waitForExit(server, SERVER_EXIT_TIMEOUT_MS);
        return 1;
      }
      say(`Stopped. The server's log is ${options.log}`);
      return server.exitCode === 0 || server.signalCode !== null ? 0 : 1;
    })();
    void stopping.then(finish);
    return stopping;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(signal));
  server.once('exit', (code, signal) => {
    if (stopping === null) {
      say(`The server exited unexpectedly (${code ?? signal}); its log: ${options.log}`);
      void stop('server exited');
    }
  });

  say(`Starting the server (pid ${server.pid}) on ${base}, log: ${options.log}`);
  try {
    await waitUntilReady(base, server);
  } catch (err) {
    say(
      `The server did not start: ${err instanceof Error ? err.message : String(err)}; its log: ${options.log}`,
    );
    await stop('start-up failed');
    return 1;
  }
  if (stopping !== null) return stopping;

  publisher = new Publisher(base);
  publisher.start();
  for (let i = 0; i < options.clients; i++) clients.push(new SimulatedClient(base, userId(i % USER_COUNT)));

  say('');
  say(`Dashboard: ${base}/dashboard`);
  if (METRICS_TOKEN !== undefined) say('  sign in with any user name and METRICS_TOKEN as the password');
  say(`A token for your own client: npm run token -- ${userId(0)} ${portfolios[0].id}`);
  say(
    `${options.clients} clients of ${USER_COUNT} users, ${portfolios.length} portfolios; Ctrl-C stops everything.`,
  );
  say('');
  statusTimer = setInterval(() => {
    const connected = clients.filter((c) => c.connected).length;
    say(
      `connected ${connected}/${clients.length} · published ${stats.updates} updates, ${stats.trades} trades` +
        (stats.publishFailures > 0 ? ` (${stats.publishFailures} failed)` : '') +
        ` · received ${stats.received} · switches ${stats.switches} · drops ${stats.drops} · reconnects ${stats.reconnects}`,
    );
  }, STATUS_EVERY_MS);
  if (options.seconds > 0)
    deadline = setTimeout(() => void stop(`${options.seconds} s elapsed`), options.seconds * 1000);
  return finished;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
