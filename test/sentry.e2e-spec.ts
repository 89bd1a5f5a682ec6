import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, IncomingMessage, Server } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import jwt from 'jsonwebtoken';
import { io, Socket } from 'socket.io-client';
import request from 'supertest';
import { TEST_JWT_SECRET } from './utils/test-app';

const ROOT = join(__dirname, '..');
import { APP_VERSION as VERSION } from '../src/common/version';

interface SentryEvent {
  exception?: { values?: Array<{ type?: string; value?: string }> };
  tags?: Record<string, string>;
  user?: { id?: string };
  environment?: string;
  release?: string;
  transaction?: string;
  contexts?: Record<string, unknown>;
  breadcrumbs?: { values?: Array<{ category?: string; data?: Record<string, unknown> }> } | Array<unknown>;
}

/** Stands in for Sentry's ingest: parses envelopes and keeps their error events. */
class SentryIngest {
  readonly events: SentryEvent[] = [];
  readonly envelopes: string[] = [];
  private server: Server | null = null;
  port = 0;

  get dsn(): string {
    return `http://publickey@127.0.0.1:${this.port}/1`;
  }

  async start(): Promise<this> {
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const text = body.toString('utf8');
        this.envelopes.push(text);
        const lines = text.split('\n');
        for (let i = 1; i + 1 < lines.length; i += 2) {
          const header = JSON.parse(lines[i]) as { type?: string };
          if (header.type === 'event') this.events.push(JSON.parse(lines[i + 1]) as SentryEvent);
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const a = server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The probe app as a child process (Sentry.init is global to a process). */
class ProbeProcess {
  private proc: ChildProcess | null = null;
  output = '';
  url = '';

  async start(env: Record<string, string>): Promise<this> {
    const proc = spawn(process.execPath, ['-r', '@swc-node/register', 'test/utils/sentry-probe-app.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        JWT_SECRET: TEST_JWT_SECRET,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString('utf8')));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString('utf8')));
    const deadline = Date.now() + 30_000;
    while (this.url === '') {
      const m = /"message":"probe listening","url":"([^"]+)"/.exec(this.output);
      if (m) this.url = m[1];
      else if (proc.exitCode !== null) throw new Error(`probe exited early:\n${this.output}`);
      else if (Date.now() > deadline) throw new Error(`probe did not start:\n${this.output}`);
      else await new Promise((r) => setTimeout(r, 50));
    }
    return this;
  }

  get alive(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  lines(message: string): Array<Record<string, unknown>> {
    return this.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.message === message);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const messageOf = (e: SentryEvent) => e.exception?.values?.[0]?.value;

async function socketSubscribe(url: string): Promise<unknown> {
  const token = jwt.sign({ sub: 'user-42', portfolios: ['p1'] }, TEST_JWT_SECRET, { expiresIn: '5m' });
  const socket: Socket = io(url, { transports: ['websocket'], reconnection: false, auth: { token } });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return await socket.timeout(5000).emitWithAck('portfolio:subscribe', { portfolioId: 'p1' });
  } finally {
    socket.disconnect();
  }
}

describe('Sentry error tracking (e2e, child process)', () => {
  describe('with SENTRY_DSN pointed at a local ingest', () => {
    const ingest = new SentryIngest();
    const probe = new ProbeProcess();

    beforeAll(async () => {
      await ingest.start();
      await probe.start({
        SENTRY_DSN: ingest.dsn,
        SENTRY_TRACES_SAMPLE_RATE: '0',
        SERVICE_NAME: 'sentry-e2e',
        SLACK_WEBHOOK: `http://127.0.0.1:${ingest.port}/services/T000/B000/SUPERSECRETTOKEN`,
      });
    });
    afterAll(async () => {
      await probe.stop();
      await ingest.stop();
    });

    it('starts Sentry from instrument.ts, with the profiler loaded', () => {
      expect(probe.lines('Error tracking enabled')).toEqual([
        expect.objectContaining({ level: 'info', profiling: true }),
      ]);
    });

    it('an error thrown in a route arrives once, with route, method and request id; 404 and 400 do not', async () => {
      await request(probe.url).get('/no-such-route').expect(404);
      await request(probe.url).get('/probe/bad').expect(400);
      const res = await request(probe.url)
        .get('/probe/boom/17')
        .set('x-request-id', 'req-sentry-1')
        .expect(500);
      expect(res.body).toEqual({ statusCode: 500, message: 'Internal server error' });
      await waitFor(() => ingest.events.length >= 1, 10_000, 'event at the ingest');
      // The 404 and the 400 were handled before the 500; had they been sent, they would be here first. A
      // duplicate of the 500 (say, from a second filter) would follow it: give it a moment to show up.
      await new Promise((r) => setTimeout(r, 500));
      expect(ingest.events.map(messageOf)).toEqual(['probe route failure']);
      const [event] = ingest.events;
      expect(event.exception?.values?.[0]?.type).toBe('Error');
      expect(event.tags).toMatchObject({
        'error.kind': 'http',
        route: '/probe/boom/:id',
        'http.method': 'GET',
        request_id: 'req-sentry-1',
      });
      expect(event.environment).toBe('test');
      expect(event.release).toBe(VERSION);
    });

    it('never sends a webhook URL to Sentry: the breadcrumb of a webhook call is redacted', async () => {
      ingest.events.length = 0;
      const before = ingest.envelopes.length;
      await request(probe.url).get('/probe/webhook-then-boom').expect(500);
      await waitFor(() => ingest.events.length >= 1, 10_000, 'event at the ingest');
      const sent = ingest.envelopes
        .slice(before)
        .filter((e) => e.includes('"type":"event"'))
        .join('\n');
      expect(sent).toContain('probe failure after a webhook call');
      expect(sent).not.toContain('SUPERSECRETTOKEN');
      expect(sent).not.toContain('/services/T000');
      const crumbs = ingest.events[0].breadcrumbs;
      const values = (Array.isArray(crumbs) ? crumbs : (crumbs?.values ?? [])) as Array<{
        category?: string;
        data?: Record<string, unknown>;
      }>;
      expect(values).toContainEqual(
        expect.objectContaining({
          category: 'http',
          data: expect.objectContaining({ url: `http://127.0.0.1:${ingest.port}/[REDACTED]` }),
        }),
      );
    });

    it('an error thrown in a socket handler arrives once, with the event, user id and socket id', async () => {
      ingest.events.length = 0;
      const ack = await socketSubscribe(probe.url);
      expect(ack).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'Internal error' } });
      await waitFor(() => ingest.events.length >= 1, 10_000, 'event at the ingest');
      await request(probe.url).get('/probe/bad').expect(400); // nothing else follows
      await new Promise((r) => setTimeout(r, 300));
      expect(ingest.events.map(messageOf)).toEqual(['probe socket handler failure']);
      expect(ingest.events[0].tags).toMatchObject({
        'error.kind': 'ws',
        'ws.event': 'portfolio:subscribe',
        socket_id: expect.any(String),
      });
      expect(ingest.events[0].user).toEqual({ id: 'user-42' });
    });

    it('an unhandled rejection is logged, reported, and the process lives on, without Sentry printing its own warning', async () => {
      ingest.events.length = 0;
      await request(probe.url).get('/probe/reject').expect(200);
      await waitFor(() => ingest.events.length >= 1, 10_000, 'event at the ingest');
      expect(ingest.events.map(messageOf)).toEqual(['probe unhandled rejection']);
      expect(ingest.events[0].tags).toMatchObject({ 'error.kind': 'process', event: 'unhandledRejection' });
      expect(probe.lines('Unhandled rejection')).toEqual([
        expect.objectContaining({ error: 'probe unhandled rejection' }),
      ]);
      expect(probe.output).not.toContain(
        'This error originated either by throwing inside of an async function',
      );
      await request(probe.url).get('/health').expect(200);
      expect(probe.alive).toBe(true);
    });
  });

  describe('without SENTRY_DSN', () => {
    const ingest = new SentryIngest();
    const probe = new ProbeProcess();

    beforeAll(async () => {
      await ingest.start();
      await probe.start({});
    });
    afterAll(async () => {
      await probe.stop();
      await ingest.stop();
    });

    it('behaves the same: same 500 body, same socket answer, survives rejections; nothing is sent', async () => {
      expect(probe.lines('Error tracking enabled')).toEqual([]);
      const res = await request(probe.url).get('/probe/boom/1').expect(500);
      expect(res.body).toEqual({ statusCode: 500, message: 'Internal server error' });
      expect(await socketSubscribe(probe.url)).toEqual({
        ok: false,
        error: { code: 'INTERNAL', message: 'Internal error' },
      });
      await request(probe.url).get('/probe/reject').expect(200);
      await waitFor(() => probe.lines('Unhandled rejection').length === 1, 5000, 'rejection logged');
      await request(probe.url).get('/health').expect(200);
      expect(probe.alive).toBe(true);
      expect(ingest.envelopes).toEqual([]);
    });
  });

  describe('where the profiler has no prebuilt binary for this platform and Node ABI', () => {
    it('instrument.ts starts Sentry without profiling and says why in one warning line, nothing else printed', () => {
      const run = spawnSync(
        process.execPath,
        ['-r', '@swc-node/register', '-e', "require('./src/instrument')"],
        {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            NODE_ENV: 'test',
            // Nothing is sent: Sentry only starts, and the process ends.
            SENTRY_DSN: 'http://publickey@127.0.0.1:9/1',
            // The profiler picks its binary by platform, architecture, libc and ABI; this architecture has none.
            BUILD_ARCH: 'no-such-arch',
          },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(run.status).toBe(0);
      expect(run.stderr).toBe('');
      const lines = run.stdout.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0])).toMatchObject({
        level: 'warn',
        message: 'Error tracking enabled',
        profiling: false,
        profilingUnavailable: expect.stringMatching(
          new RegExp(`^native profiler does not load on Node ${process.version}: .*no-such-arch`),
        ) as unknown,
      });
    });
  });
});
