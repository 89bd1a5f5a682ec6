import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { ErrorReporter } from '../src/error-tracking/error-reporter';
import { LogCapture, logBarrier } from './utils/log-capture';
import { headerValues, rawHttp, RawHttpResponse } from './utils/raw-http';
import { expectServerServes } from './utils/server-checks';
import {
  closeAll,
  connect,
  createClient,
  emitAck,
  makeToken,
  nextEvent,
  subscribed,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'abuse-http-publish-token-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PACKAGE_NAME = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
  name: string;
};

/** An error body fit for a client: JSON, the status in it, and nothing from the inside (stack, paths, HTML). */
function expectCleanJsonError(
  res: { status: number; headers: Record<string, string>; text: string },
  status: number,
) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  expect(body.statusCode).toBe(status);
  expect(typeof body.message === 'string' || Array.isArray(body.message)).toBe(true);
  expect(res.text).not.toMatch(/\bat .+\(.+:\d+:\d+\)/); // no stack frames
  expect(res.text).not.toContain('node_modules');
  expect(res.text).not.toContain(process.cwd());
  expect(res.text).not.toMatch(/<html|<pre/i);
}

describe('Abuse: HTTP (e2e)', () => {
  const logs = new LogCapture();
  let t: TestApp;
  let port: number;
  const sockets: Socket[] = [];

  const post = () =>
    request(t.url).post('/events').set('Authorization', `Bearer ${PUBLISH_TOKEN}`).timeout(10_000);
  const raw = (lines: string[], body = '') => rawHttp(port, lines.join('\r\n') + '\r\n\r\n' + body);

  let logMark = 0;
  let reported: jest.SpyInstance;
  /**
   * A client's bad request is the client's problem: answered 4xx and logged as a request (warn), never as a
   * server error with a stack, and never sent to error tracking, or anyone could flood both.
   */
  const expectTreatedAsClientError = async () => {
    await logBarrier(t.url, logs); // the error handler logs after the response is sent
    const errors = logs.lines.slice(logMark).filter((l) => l.level === 'error' || l.level === 'fatal');
    expect(errors.map((l) => `${String(l.context)}: ${String(l.message)}`)).toEqual([]);
    expect(reported).not.toHaveBeenCalled();
  };

  beforeEach(() => {
    logMark = logs.lines.length;
    reported = jest.spyOn(t.app.get(ErrorReporter), 'report');
  });

  beforeAll(async () => {
    logs.start();
    t = await createTestApp({ PUBLISH_TOKEN, LOG_LEVEL: 'info' });
    port = Number(new URL(t.url).port);
  });
  afterEach(async () => {
    reported.mockRestore();
    closeAll(sockets);
    await expectServerServes(t.url, PUBLISH_TOKEN);
  });
  afterAll(async () => {
    await t.close();
    logs.stop();
  });

  describe('POST /events bodies', () => {
    const invalidJson: Array<[string, string]> = [
      ['truncated', '{"event":"trade:executed","userId":"a",'],
      ['single quotes', "{'event':'trade:executed'}"],
      ['a bare word', 'hello'],
      ['a top-level string (strict JSON only)', '"trade:executed"'],
      ['NaN', '{"event":"trade:executed","userId":"a","data":{"x":NaN}}'],
      ['a byte-order mark and garbage', '\ufeff\u0000{}'],
    ];
    it.each(invalidJson)('invalid JSON (%s): 400 with a clean JSON error', async (_name, body) => {
      const res = await post().set('content-type', 'application/json').send(body);
      expectCleanJsonError(res, 400);
      await expectTreatedAsClientError();
    });

    it('a 10 MB body: 413 with a clean JSON error, promptly', async () => {
      const res = await post()
        .set('content-type', 'application/json')
        .send(
          JSON.stringify({ event: 'trade:executed', userId: 'a', data: { s: 'x'.repeat(10 * 1024 * 1024) } }),
        );
      expectCleanJsonError(res, 413);
      await expectTreatedAsClientError();
    });

    it('a body just over the limit (100 KB): 413 with a clean JSON error', async () => {
      const res = await post()
        .set('content-type', 'application/json')
        .send(JSON.stringify({ event: 'trade:executed', userId: 'a', data: { s: 'x'.repeat(100 * 1024) } }));
      expectCleanJsonError(res, 413);
      await expectTreatedAsClientError();
    });

    it('a 10 MB chunked body (no Content-Length): 413', async () => {
      const chunk = 'x'.repeat(64 * 1024);
      const chunks: string[] = [`${(14).toString(16)}\r\n{"data":{"s":"\r\n`];
      for (let i = 0; i < 160; i++) chunks.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      chunks.push('0\r\n\r\n');
      const res = await raw(
        [
          'POST /events HTTP/1.1',
          'Host: 127.0.0.1',
          `Authorization: Bearer ${PUBLISH_TOKEN}`,
          'Content-Type: application/json',
          'Transfer-Encoding: chunked',
          'Connection: close',
        ],
        chunks.join(''),
      );
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ statusCode: 413 });
      await expectTreatedAsClientError();
    });

    it('a gzip bomb (10 MB of zeros in a few KB): refused (body-parser answers 400 or 413), never accepted', async () => {
      const bomb = gzipSync(Buffer.from(`{"data":"${'0'.repeat(10 * 1024 * 1024)}"}`));
      expect(bomb.length).toBeLessThan(64 * 1024);
      const res = await post()
        .set('content-type', 'application/json')
        .set('content-encoding', 'gzip')
        .send(bomb);
      expect([400, 413]).toContain(res.status);
      expectCleanJsonError(res, res.status);
      await expectTreatedAsClientError();
    });

    it('an unsupported charset or encoding: 415 with a clean JSON error', async () => {
      const charset = await post().set('content-type', 'application/json; charset=klingon').send('{}');
      expectCleanJsonError(charset, 415);
      const encoding = await post()
        .set('content-type', 'application/json')
        .set('content-encoding', 'x-evil')
        .send('{}');
      expectCleanJsonError(encoding, 415);
      await expectTreatedAsClientError();
    });

    it('deeply nested JSON in data: 400 (refused), not a 500 or a crash', async () => {
      const depth = 6_500;
      const body = `{"event":"trade:executed","userId":"deep","data":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
      expect(body.length).toBeLessThan(64 * 1024);
      const res = await post().set('content-type', 'application/json').send(body);
      expectCleanJsonError(res, 400);
      await expectTreatedAsClientError();
    });

    it('deeply nested arrays in data: 400 (refused), not a 500 or a crash', async () => {
      const depth = 30_000;
      const body = `{"event":"trade:executed","userId":"deep","data":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
      expect(body.length).toBeLessThan(64 * 1024);
      const res = await post().set('content-type', 'application/json').send(body);
      expectCleanJsonError(res, 400);
      await expectTreatedAsClientError();
    });

    it('modest nesting (32 levels) is a normal event: 202', async () => {
      const body = `{"event":"trade:executed","userId":"nest","data":${'{"a":'.repeat(32)}1${'}'.repeat(32)}}`;
      const res = await post().set('content-type', 'application/json').send(body);
      expect(res.status).toBe(202);
    });
  });

  describe('x-request-id', () => {
    const requestLine = ['GET /no-such-route HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close'];
    const idOf = (res: RawHttpResponse) => headerValues(res, 'x-request-id');

    it('a well-formed id is kept (the control case)', async () => {
      const res = await raw([...requestLine, 'X-Request-Id: req-123.abc:XYZ_9']);
      expect(res.status).toBe(404);
      expect(idOf(res)).toEqual(['req-123.abc:XYZ_9']);
    });

    const hostile: Array<[string, string]> = [
      ['JSON that would close the log object', 'abc"},"level":"fatal","message":"pwned'],
      ['HTML', '<script>alert(1)</script>'],
      ['spaces and tabs', 'a b\tc'],
      ['10,000 characters', 'a'.repeat(10_000)],
      ['non-ASCII bytes', 'caf\u00e9\u00ff'],
      ['a CRLF-escaped header', 'abc%0d%0aSet-Cookie:%20evil=1'],
    ];
    it.each(hostile)('%s: replaced by a fresh UUID, never echoed or logged raw', async (_name, value) => {
      const before = logs.lines.length;
      const res = await rawHttp(
        port,
        Buffer.from([...requestLine, `X-Request-Id: ${value}`].join('\r\n') + '\r\n\r\n', 'latin1'),
      );
      expect(res.status).toBe(404);
      expect(idOf(res)).toEqual([expect.stringMatching(UUID)]);
      expect(res.raw).not.toContain(value);
      const logged = logs.lines.slice(before).filter((l) => l.requestId !== undefined);
      expect(logged.map((l) => l.requestId)).toContain(idOf(res)[0]);
      expect(logs.text).not.toContain(value);
      expect(logs.lines.filter((l) => l.message === 'pwned')).toEqual([]);
    });

    it('two x-request-id headers: replaced, not joined', async () => {
      const res = await raw([...requestLine, 'X-Request-Id: first', 'X-Request-Id: second']);
      expect(idOf(res)).toEqual([expect.stringMatching(UUID)]);
    });

    it('a line folded into a second header (obs-fold) cannot add a response header', async () => {
      const res = await raw([...requestLine, 'X-Request-Id: abc', ' Set-Cookie: evil=1']);
      expect([400, 404]).toContain(res.status);
      expect(headerValues(res, 'set-cookie')).toEqual([]);
      if (res.status === 404) expect(idOf(res)).toEqual([expect.stringMatching(UUID)]);
    });

    it('a bare CR or NUL in the header: 400 from the HTTP parser, connection closed', async () => {
      for (const bad of ['abc\rSet-Cookie: evil=1', 'abc\u0000def']) {
        const res = await rawHttp(port, [...requestLine, `X-Request-Id: ${bad}`].join('\r\n') + '\r\n\r\n');
        expect(res.status).toBe(400);
        expect(headerValues(res, 'set-cookie')).toEqual([]);
      }
    });
  });

  describe('path traversal on the dashboard’s static files', () => {
    const paths = [
      '/dashboard/static/../../package.json',
      '/dashboard/static/../../../package.json',
      '/dashboard/static/..%2f..%2fpackage.json',
      '/dashboard/static/..%2F..%2F..%2Fpackage.json',
      '/dashboard/static/%2e%2e/%2e%2e/package.json',
      '/dashboard/static/%2e%2e%2f%2e%2e%2fpackage.json',
      '/dashboard/static/%252e%252e%252fpackage.json',
      '/dashboard/static/..%5c..%5cpackage.json',
      '/dashboard/static/....//....//package.json',
      '/dashboard/static/dashboard.js/../../../package.json',
      '/dashboard/static/..',
      '/dashboard/static/%2e%2e',
      '/dashboard/static/index.html',
      '/dashboard/static/dashboard.js%00.html',
      '/dashboard/static/constructor',
      '/dashboard/static/__proto__',
      '/dashboard/static/hasOwnProperty',
      '/dashboard/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/dashboard/static/%c0%ae%c0%ae%c0%afpackage.json',
      '/dashboard/..%2f..%2fpackage.json',
      '/dashboard/static//etc/passwd',
      // static/ also holds the page's type declarations and tsconfig: source, never served.
      '/dashboard/static/server-types.d.ts',
      '/dashboard/static/globals.d.ts',
      '/dashboard/static/tsconfig.json',
    ];
    it.each(paths)('%s: 404 or 400, never a file', async (path) => {
      const res = await raw([`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close']);
      expect([400, 404]).toContain(res.status);
      expect(res.body).not.toContain(PACKAGE_NAME.name);
      expect(res.body).not.toContain('"dependencies"');
      expect(res.body).not.toContain('root:x:0:0');
      expect(res.body).not.toMatch(/<html|<script/i);
    });

    // The control case: every module of the page is served, as JavaScript (browsers refuse a module otherwise).
    const modules = readdirSync(join(__dirname, '..', 'src', 'metrics', 'dashboard', 'static')).filter((f) =>
      f.endsWith('.js'),
    );
    it.each(['chart.umd.min.js', ...modules])('the real asset %s is served', async (file) => {
      const res = await raw([
        `GET /dashboard/static/${file} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Connection: close',
      ]);
      expect(res.status).toBe(200);
      expect(headerValues(res, 'content-type')).toEqual(['text/javascript; charset=utf-8']);
    });
  });

  describe('spoofed X-Forwarded-For', () => {
    const spoofed = '6.6.6.6';
    const hostileXff = '6.6.6.6", "level":"fatal","message":"pwned';

    it('does not change the remote address the logs record, and cannot inject into them', async () => {
      const before = logs.lines.length;
      const res = await request(t.url)
        .get('/xff-probe')
        .set('X-Forwarded-For', hostileXff)
        .set('X-Real-IP', spoofed)
        .set('Forwarded', `for=${spoofed}`)
        .timeout(5000);
      expect(res.status).toBe(404);
      const line = logs.lines
        .slice(before)
        .find(
          (l) =>
            l.requestId === res.headers['x-request-id'] && String(l.message).startsWith('GET /xff-probe'),
        );
      expect(line).toBeDefined();
      const req = (line as { req?: { remoteAddress?: string } }).req;
      expect(req?.remoteAddress).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
      expect(logs.text).not.toContain(spoofed);
      expect(logs.lines.filter((l) => l.message === 'pwned')).toEqual([]);
    });

    it('does not change a socket’s identity: the token decides', async () => {
      const s = await connect(
        createClient(t.url, makeToken('xff-real', ['mine']), {
          extraHeaders: { 'X-Forwarded-For': spoofed, 'X-User-Id': 'xff-victim' },
        }),
      );
      sockets.push(s);
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'mine' })).resolves.toEqual(
        subscribed('mine'),
      );
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'victims' })).resolves.toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
      const trade = nextEvent(s, 'trade:executed');
      const res = await request(t.url)
        .post('/events')
        .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
        .send({ event: 'trade:executed', userId: 'xff-victim', data: {} });
      expect(res.body.delivered).toBe(0);
      await request(t.url)
        .post('/events')
        .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
        .send({ event: 'trade:executed', userId: 'xff-real', data: { mine: true } })
        .expect(202);
      await expect(trade).resolves.toMatchObject({ data: { mine: true } });
    });

    it('does not share rate-limit buckets: a flooder claiming your address does not get you limited', async () => {
      const headers = { extraHeaders: { 'X-Forwarded-For': spoofed } };
      const flooder = await connect(createClient(t.url, makeToken('xff-flooder', ['p1']), headers));
      const victim = await connect(createClient(t.url, makeToken('xff-victim2', ['p1']), headers));
      sockets.push(flooder, victim);
      const floods = await Promise.all(
        Array.from({ length: 80 }, () => emitAck(flooder, 'portfolio:subscribe', { portfolioId: 'p1' })),
      );
      expect(floods.filter((r) => r.ok === false && r.error.code === 'RATE_LIMITED').length).toBeGreaterThan(
        0,
      );
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => emitAck(victim, 'portfolio:subscribe', { portfolioId: 'p1' })),
      );
      expect(answers).toEqual(Array.from({ length: 20 }, () => subscribed('p1')));
    });
  });

  describe('raw TCP garbage on the HTTP port', () => {
    it.each([
      ['not HTTP at all', 'GARBAGE GARBAGE\r\n\r\n'],
      ['binary noise', Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37) % 256))],
      ['a request line 100 KB long', `GET /${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`],
      ['headers 100 KB long', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`],
    ])('%s: a 4xx answer and the connection closed', async (_name, payload) => {
      const res = await rawHttp(port, payload);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    });
  });
});
