import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { ErrorReporter } from '../src/error-tracking/error-reporter';
import { LogCapture } from './utils/log-capture';
import { headerValues, rawHttp, RawHttpResponse } from './utils/raw-http';
import { exposition, sampleValue } from './utils/server-checks';
import {
  closeAll,
  connect,
  createClient,
  emitAck,
  makeToken,
  waitFor,
  subscribed,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'http-limits-publish-token-0123456789';
const LIMIT = 80 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The timeouts are small so that every case ends in well under a second; each case waits on the server's answer
 * or on the connection closing, never on the clock. The bounded waits below are only how long a test may hang
 * before it is declared failed: without the limits (today's behaviour) none of these requests is ever answered.
 */
const LIMITS_ENV = {
  PUBLISH_TOKEN,
  LOG_LEVEL: 'info',
  HTTP_HEADERS_TIMEOUT_MS: '500',
  HTTP_REQUEST_TIMEOUT_MS: '3000',
  PUBLISH_BODY_TIMEOUT_MS: '500',
  HTTP_IDLE_TIMEOUT_MS: '2500',
  WS_PING_INTERVAL_MS: '1000',
};

const head = (lines: string[]) => lines.join('\r\n') + '\r\n\r\n';
const publishHead = (extra: string[]) =>
  head(['POST /events HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/json', ...extra]);

/** A chunked body's bytes: `total` bytes of a JSON string in 16 KB chunks, without the terminating chunk. */
function unterminatedChunks(total: number): string {
  const parts = ['e\r\n{"data":{"s":"\r\n'];
  const chunk = 'x'.repeat(16 * 1024);
  for (let sent = 0; sent < total; sent += chunk.length) parts.push(`4000\r\n${chunk}\r\n`);
  return parts.join('');
}

describe('HTTP limits (e2e)', () => {
  const logs = new LogCapture();
  let t: TestApp;
  let port: number;
  let reported: jest.SpyInstance;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    logs.start();
    t = await createTestApp(LIMITS_ENV);
    port = Number(new URL(t.url).port);
  });
  beforeEach(() => {
    reported = jest.spyOn(t.app.get(ErrorReporter), 'report');
  });
  afterEach(() => {
    reported.mockRestore();
    closeAll(sockets);
  });
  afterAll(async () => {
    await t.close();
    logs.stop();
  });

  const requestIdOf = (res: RawHttpResponse | request.Response): string =>
    Array.isArray(res.headers)
      ? (headerValues(res as RawHttpResponse, 'x-request-id')[0] ?? '')
      : String((res as request.Response).headers['x-request-id']);

  /**
   * What an operator sees for every refused request: the x-request-id header, one warn line carrying that id
   * and the status, one more count in http_requests_total under the bounded `/events` route, and no error line
   * or error-tracking report (a client's mistake is not a server fault).
   */
  async function expectVisibleRejection(
    send: () => Promise<RawHttpResponse | request.Response>,
    status: number,
  ): Promise<void> {
    const labels = { method: 'POST', route: '/events', status_code: String(status) };
    const before = sampleValue(await exposition(t.url), 'http_requests_total', labels) ?? 0;
    const res = await send();
    expect(res.status).toBe(status);
    const id = requestIdOf(res);
    expect(id).toMatch(UUID);
    await waitFor(() => logs.lines.some((l) => l.requestId === id), 2000);
    const lines = logs.lines.filter((l) => l.requestId === id);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', requestId: id, res: { statusCode: status } }),
    ]);
    await waitFor(
      async () => sampleValue(await exposition(t.url), 'http_requests_total', labels) === before + 1,
      2000,
    );
    expect(logs.lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    expect(reported).not.toHaveBeenCalled();
  }

  describe('POST /events is refused before its body is read', () => {
    it('a wrong token: 401 although no body byte was sent, and the connection is closed', async () => {
      const res = await rawHttp(
        port,
        publishHead(['Authorization: Bearer wrong-token', 'Content-Length: 1000']),
        5000,
      );
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body)).toMatchObject({ statusCode: 401 });
    });

    it('no token at all: 401, no body read', async () => {
      const res = await rawHttp(port, publishHead(['Content-Length: 1000']), 5000);
      expect(res.status).toBe(401);
    });

    it('a declared Content-Length over the limit: 413 at once, without waiting for the body', async () => {
      const res = await rawHttp(
        port,
        publishHead([`Authorization: Bearer ${PUBLISH_TOKEN}`, `Content-Length: ${10 * 1024 * 1024}`]),
        5000,
      );
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ statusCode: 413 });
    });
  });

  describe('POST /events bodies that never end', () => {
    it('a chunked body over the limit is cut at the limit: 413 and closed before the client finished', async () => {
      // The body is never terminated: only a server that stops at the limit can answer at all.
      const res = await rawHttp(
        port,
        publishHead([`Authorization: Bearer ${PUBLISH_TOKEN}`, 'Transfer-Encoding: chunked']) +
          unterminatedChunks(LIMIT + 16 * 1024),
        5000,
      );
      expect(res.status).toBe(413);
      expect(headerValues(res, 'connection')).toEqual(['close']);
    });

    it('an authenticated body that stops arriving: 408 after PUBLISH_BODY_TIMEOUT_MS, connection closed', async () => {
      const res = await rawHttp(
        port,
        publishHead([`Authorization: Bearer ${PUBLISH_TOKEN}`, 'Content-Length: 100']) + '{"event":',
        5000,
      );
      expect(res.status).toBe(408);
      expect(headerValues(res, 'connection')).toEqual(['close']);
    });

    it('headers that never end: the connection is closed after HTTP_HEADERS_TIMEOUT_MS', async () => {
      const res = await rawHttp(port, 'POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a', 5000);
      expect(res.status).toBe(408);
    });
  });

  describe('POST /events accepts application/json only', () => {
    const post = () =>
      request(t.url).post('/events').set('Authorization', `Bearer ${PUBLISH_TOKEN}`).timeout(5000);

    it('a form-encoded body: 415, nothing published', async () => {
      const res = await post().type('form').send('event=trade%3Aexecuted&userId=alice&data%5Bx%5D=1');
      expect(res.status).toBe(415);
      expect(res.body).toMatchObject({ statusCode: 415 });
    });

    it.each([
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
    ])('%s: 415', async (type) => {
      const res = await post()
        .set('Content-Type', type)
        .send('{"event":"trade:executed","userId":"a","data":{}}');
      expect(res.status).toBe(415);
    });

    it('application/json with a charset parameter is accepted (the control case)', async () => {
      const res = await post()
        .set('Content-Type', 'application/json; charset=utf-8')
        .send('{"event":"trade:executed","userId":"a","data":{}}');
      expect(res.status).toBe(202);
    });
  });

  describe('every rejection is logged at warn with its request id and counted', () => {
    const post = () => request(t.url).post('/events').timeout(5000);
    const authed = () => post().set('Authorization', `Bearer ${PUBLISH_TOKEN}`);

    it('malformed JSON: 400', async () => {
      await expectVisibleRejection(
        () => authed().set('Content-Type', 'application/json').send('{"event":'),
        400,
      );
    });

    it('a form-encoded body: 415', async () => {
      await expectVisibleRejection(() => authed().type('form').send('event=x'), 415);
    });

    it('a wrong token: 401', async () => {
      await expectVisibleRejection(
        () => post().set('Authorization', 'Bearer nope').set('Content-Type', 'application/json').send('{}'),
        401,
      );
    });

    it('a declared body over the limit: 413', async () => {
      await expectVisibleRejection(
        () =>
          rawHttp(
            port,
            publishHead([`Authorization: Bearer ${PUBLISH_TOKEN}`, `Content-Length: ${LIMIT + 1}`]),
            5000,
          ),
        413,
      );
    });

    it('a chunked body over the limit: 413', async () => {
      await expectVisibleRejection(
        () =>
          rawHttp(
            port,
            publishHead([`Authorization: Bearer ${PUBLISH_TOKEN}`, 'Transfer-Encoding: chunked']) +
              unterminatedChunks(LIMIT + 16 * 1024),
            5000,
          ),
        413,
      );
    });

    it('a body that stops arriving: 408', async () => {
      await expectVisibleRejection(
        () =>
          rawHttp(
            port,
            publishHead([`Authorization: Bearer ${PUBLISH_TOKEN}`, 'Content-Length: 100']) + '{',
            5000,
          ),
        408,
      );
    });
  });

  describe('the timeouts leave long-lived connections alone', () => {
    /** Resolves after the client has seen `n` server pings, i.e. after about n ping intervals. */
    const pings = (s: Socket, n: number) =>
      new Promise<void>((resolve) => {
        let seen = 0;
        const onPing = () => {
          if (++seen < n) return;
          s.io.engine.off('ping', onPing);
          resolve();
        };
        s.io.engine.on('ping', onPing);
      });

    it('a long-polling client outlives the request and idle timeouts and still gets acks', async () => {
      const s = await connect(
        createClient(t.url, makeToken('poller', ['pp']), { transports: ['polling'], upgrade: false }),
      );
      sockets.push(s);
      // Each poll is held open until the next ping (1 s); four of them outlast every configured timeout.
      await pings(s, 4);
      expect(s.connected).toBe(true);
      expect(s.io.engine.transport.name).toBe('polling');
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'pp' })).resolves.toEqual(
        subscribed('pp'),
      );
    });
  });

  describe('with publishing disabled and a WebSocket that idles longer than the idle timeout', () => {
    let b: TestApp;
    beforeAll(async () => {
      b = await createTestApp({
        LOG_LEVEL: 'info',
        WS_TRANSPORTS: 'websocket',
        WS_PING_INTERVAL_MS: '3000',
        HTTP_IDLE_TIMEOUT_MS: '500',
        HTTP_HEADERS_TIMEOUT_MS: '500',
        HTTP_REQUEST_TIMEOUT_MS: '1000',
        PUBLISH_BODY_TIMEOUT_MS: '500',
      });
    });
    afterAll(() => b.close());

    it('POST /events answers 503 before reading the body', async () => {
      const res = await rawHttp(
        Number(new URL(b.url).port),
        publishHead(['Authorization: Bearer x', 'Content-Length: 1000']),
        5000,
      );
      expect(res.status).toBe(503);
    });

    it('a WebSocket silent for a whole ping interval (6× the idle timeout) stays connected', async () => {
      const s = await connect(createClient(b.url, makeToken('idler', ['ip'])));
      sockets.push(s);
      const pinged = new Promise<void>((resolve) => s.io.engine.once('ping', () => resolve()));
      await pinged;
      expect(s.connected).toBe(true);
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'ip' })).resolves.toEqual(
        subscribed('ip'),
      );
    });

    it('a keep-alive connection idle for longer than every timeout but keep-alive still serves its next request', async () => {
      // What HTTP_KEEP_ALIVE_TIMEOUT_MS above the others relies on: between two requests only keep-alive
      // applies, so a proxy's pooled connection is not cut after the headers, request or idle timeout.
      const answers = await new Promise<string[]>((resolve, reject) => {
        const c = tcpConnect(Number(new URL(b.url).port), '127.0.0.1');
        let got = '';
        const timer = setTimeout(() => {
          c.destroy();
          reject(new Error(`no second answer; got: ${got.slice(0, 200)}`));
        }, 8000);
        c.on('error', () => undefined);
        c.on('data', (d: Buffer) => (got += d.toString('latin1')));
        c.on('close', () => {
          clearTimeout(timer);
          resolve(got.match(/HTTP\/1\.1 \d{3}/g) ?? []);
        });
        c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        // The idle time is what is under test: longer than the request (1 s), headers and idle (0.5 s) timeouts.
        setTimeout(
          () => c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
          1500,
        );
      });
      expect(answers).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    });

    it('a plain TCP connection that never sends a byte is closed (headers and idle timeouts)', async () => {
      const closed = await new Promise<boolean>((resolve) => {
        const c = tcpConnect(Number(new URL(b.url).port), '127.0.0.1');
        const timer = setTimeout(() => {
          c.destroy();
          resolve(false);
        }, 5000);
        c.on('error', () => undefined);
        c.on('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      expect(closed).toBe(true);
    });
  });
});
