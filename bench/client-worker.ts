/**
 * A benchmark client process: holds socket.io-client connections and runs the load the orchestrator asks for
 * over IPC. Kept apart from the server process (and pinned to another core) so the clients' CPU never competes
 * with the server under test.
 */
import { sign } from 'jsonwebtoken';
import { io, Socket } from 'socket.io-client';
import WebSocket, { RawData } from 'ws';
import { LogHistogram } from './lib/histogram';
import type {
  AckLoopArgs,
  AckLoopResult,
  Command,
  ConnectArgs,
  ConnectResult,
  DropsResult,
  FanoutCollectResult,
  FanoutData,
  Reply,
  Request,
  SlowConsumerArgs,
  SlowConsumerReport,
} from './lib/protocol';

const SUBSCRIBE = 'portfolio:subscribe';
const UPDATE = 'portfolio:update';
const ACK_TIMEOUT_MS = 5000;

interface Group {
  sockets: Socket[];
  disconnects: number;
  reasons: Record<string, number>;
  /** Fan-out deliveries per publish step. */
  steps: Map<number, { received: number; hist: LogHistogram }>;
}

const groups = new Map<string, Group>();
const wallNow = () => performance.timeOrigin + performance.now();

function group(name: string): Group {
  let g = groups.get(name);
  if (g === undefined) {
    g = { sockets: [], disconnects: 0, reasons: {}, steps: new Map() };
    groups.set(name, g);
  }
  return g;
}

function tokenFor(jwtSecret: string, userId: string, portfolioId: string): string {
  return sign({ portfolios: [portfolioId] }, jwtSecret, {
    algorithm: 'HS256',
    subject: userId,
    expiresIn: '1h',
  });
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

function connectOne(
  url: string,
  token: string,
  g: Group,
  args: ConnectArgs,
): Promise<{ ok: true; socket: Socket } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = io(url, {
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: 15_000,
    });
    const fail = (error: string) => {
      socket.disconnect();
      resolve({ ok: false, error });
    };
    socket.once('connect_error', (err: Error) => fail(`connect_error: ${err.message}`));
    socket.once('connect', () => {
      socket.off('connect_error');
      socket.once('disconnect', (reason: string) => {
        g.disconnects++;
        g.reasons[reason] = (g.reasons[reason] ?? 0) + 1;
      });
      if (args.listen) {
        socket.on(UPDATE, (payload: { data?: FanoutData }) => {
          const data = payload?.data;
          if (data === undefined) return;
          let s = g.steps.get(data.step);
          if (s === undefined) {
            s = { received: 0, hist: new LogHistogram() };
            g.steps.set(data.step, s);
          }
          s.received++;
          s.hist.record((wallNow() - data.sentAt) * 1000);
        });
      }
      if (!args.subscribe) {
        resolve({ ok: true, socket });
        return;
      }
      socket
        .timeout(ACK_TIMEOUT_MS)
        .emit(SUBSCRIBE, { portfolioId: args.portfolioId }, (err: Error | null, ack?: { ok?: boolean }) => {
          if (err !== null) fail(`subscribe: ${err.message}`);
          else if (ack?.ok !== true) fail(`subscribe refused: ${JSON.stringify(ack)}`);
          else resolve({ ok: true, socket });
        });
    });
  });
}

async function connect(args: ConnectArgs): Promise<ConnectResult> {
  const g = group(args.group);
  const tokens: string[] = [];
  for (let i = 0; i < args.count; i++) {
    tokens.push(tokenFor(args.jwtSecret, `${args.userPrefix}${args.firstIndex + i}`, args.portfolioId));
  }
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  let connected = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async () => {
    while (next < tokens.length) {
      const token = tokens[next++];
      const r = await connectOne(args.url, token, g, args);
      if (r.ok) {
        g.sockets.push(r.socket);
        connected++;
      } else {
        failed++;
        firstError ??= r.error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.count) }, lane));
  return { connected, failed, firstError, elapsedMs: performance.now() - started, cpuMs: cpuMsSince(cpu) };
}

/** Each socket keeps one portfolio:subscribe in flight (optionally paced to a target rate) until the deadline. */
function ackLoop(args: AckLoopArgs): Promise<AckLoopResult> {
  const sockets = group(args.group).sockets;
  const hist = new LogHistogram();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + args.durationMs;
  const interval = args.ratePerSec === null ? 0 : (sockets.length * 1000) / args.ratePerSec;
  const payload = { portfolioId: args.portfolioId };
  let acks = 0;
  let errors = 0;
  let firstError: string | undefined;
  return new Promise((resolve) => {
    let running = sockets.length;
    let done = false;
    const settle = () => {
      if (done) return;
      done = true;
      clearTimeout(hardStop);
      // Sockets still waiting for an ack here never got one: each counts as an error.
      if (running > 0) {
        errors += running;
        firstError ??= `${running} acks not answered within ${ACK_TIMEOUT_MS} ms of the end`;
      }
      resolve({
        acks,
        errors,
        firstError,
        elapsedMs: performance.now() - started,
        hist: hist.toJSON(),
        cpuMs: cpuMsSince(cpu),
      });
    };
    // One timer for the whole run rather than one per emit: a timer per ack costs the client core real time.
    const hardStop = setTimeout(settle, args.durationMs + ACK_TIMEOUT_MS);
    const finish = () => {
      if (--running === 0) settle();
    };
    if (running === 0) {
      settle();
      return;
    }
    sockets.forEach((socket, i) => {
      // Paced clients start spread over one interval so the load is even rather than in bursts.
      let due = started + (interval * i) / sockets.length;
      const fire = (): void => {
        const now = performance.now();
        if (done) return;
        if (now >= deadline || !socket.connected) {
          finish();
          return;
        }
        if (interval > 0 && now < due) {
          setTimeout(fire, due - now);
          return;
        }
        due = Math.max(due + interval, now - interval);
        const t0 = performance.now();
        socket.emit(SUBSCRIBE, payload, (ack?: { ok?: boolean; portfolioId?: string }) => {
          if (done) return;
          const rtt = performance.now() - t0;
          if (ack?.ok === true && ack.portfolioId === args.portfolioId) {
            acks++;
            hist.record(rtt * 1000);
          } else {
            errors++;
            firstError ??= JSON.stringify(ack);
          }
          fire();
        });
      };
      fire();
    });
  });
}

function fanoutCollect(groupName: string, step: number): FanoutCollectResult {
  const g = group(groupName);
  const s = g.steps.get(step);
  g.steps.delete(step);
  return {
    received: s?.received ?? 0,
    hist: s?.hist.toJSON() ?? [],
    cpuMs: cpuMsSince({ user: 0, system: 0 }),
  };
}

function drops(groupName: string): DropsResult {
  const g = group(groupName);
  return {
    connected: g.sockets.filter((s) => s.connected).length,
    disconnects: g.disconnects,
    reasons: g.reasons,
  };
}

function close(groupName: string): { closed: number } {
  const g = groups.get(groupName);
  if (g === undefined) return { closed: 0 };
  groups.delete(groupName);
  for (const s of g.sockets) s.disconnect();
  return { closed: g.sockets.length };
}

const slowConsumers = new Map<string, { ws: WebSocket; pong: NodeJS.Timeout; report: SlowConsumerReport }>();

/**
 * A client that subscribes like any other, then stops reading its socket and keeps the engine.io heartbeat
 * alive with blind pongs (`3`), which refresh the server's ping timer so it never even sends a ping: what a
 * stalled or hostile client looks like to the server. It speaks the engine.io 4 / socket.io 5 wire protocol
 * over a raw `ws` socket, because socket.io-client can neither stop reading nor pong unasked.
 */
function slowConsumerStart(args: SlowConsumerArgs): Promise<void> {
  const ws = new WebSocket(`${args.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
    perMessageDeflate: false,
  });
  const token = tokenFor(args.jwtSecret, args.userId, args.portfolioId);
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error('slow consumer: no subscribe ack')), ACK_TIMEOUT_MS);
    ws.on('error', fail);
    ws.on('message', (raw: RawData) => {
      // Text frames arrive as one Buffer with ws's default binaryType.
      const text = (raw as Buffer).toString('utf8');
      if (text.startsWith('0')) ws.send(`40${JSON.stringify({ token })}`);
      else if (text.startsWith('44')) fail(new Error(`slow consumer refused: ${text}`));
      else if (text.startsWith('40'))
        ws.send(`420${JSON.stringify([SUBSCRIBE, { portfolioId: args.portfolioId }])}`);
      else if (text.startsWith('430')) {
        const [ack] = JSON.parse(text.slice(3)) as [{ ok?: boolean } | undefined];
        if (ack?.ok !== true) {
          fail(new Error(`slow consumer: subscribe refused: ${text}`));
          return;
        }
        clearTimeout(timer);
        ws.removeAllListeners('message');
        ws.removeAllListeners('error');
        ws.pause();
        const report: SlowConsumerReport = { failedPongs: 0, closedSeen: false };
        const closed = () => (report.closedSeen = true);
        ws.on('error', closed);
        ws.on('close', closed);
        const pong = setInterval(
          () => ws.send('3', (err) => (err === undefined || err === null ? undefined : report.failedPongs++)),
          args.pongEveryMs,
        );
        slowConsumers.set(args.name, { ws, pong, report });
        resolve();
      }
    });
  });
}

function slowConsumerStop(name: string): SlowConsumerReport {
  const c = slowConsumers.get(name);
  if (c === undefined) throw new Error(`no slow consumer ${name}`);
  slowConsumers.delete(name);
  clearInterval(c.pong);
  c.ws.terminate();
  return c.report;
}

async function run(command: Command): Promise<unknown> {
  switch (command.cmd) {
    case 'connect':
      return connect(command.args);
    case 'ackLoop':
      return ackLoop(command.args);
    case 'fanoutCollect':
      return fanoutCollect(command.args.group, command.args.step);
    case 'drops':
      return drops(command.args.group);
    case 'close':
      return close(command.args.group);
    case 'slowConsumerStart':
      return slowConsumerStart(command.args);
    case 'slowConsumerStop':
      return slowConsumerStop(command.args.name);
  }
}

if (process.send === undefined) {
  process.stderr.write('client-worker must be started by bench/run.ts (it needs an IPC channel)\n');
  process.exit(2);
}

process.on('message', (msg: Request) => {
  run(msg.command).then(
    (result) => process.send?.({ id: msg.id, ok: true, result } satisfies Reply),
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: String(err) } satisfies Reply),
  );
});
// The orchestrator going away (crash, Ctrl-C) ends this worker too: no stray load on the machine.
process.on('disconnect', () => process.exit(0));
process.send({ id: 0, ok: true, result: 'ready' } satisfies Reply);
