import pino from 'pino';
import { censorSecrets, REDACTED, redactUrl } from './log-redaction';
import { basePinoOptions, flattenError } from './logger.options';
import { isWellFormedRequestId } from './request-id';

describe('redactUrl', () => {
  it('censors secret-looking query parameters only', () => {
    expect(redactUrl('/socket.io/?EIO=4&token=abc.def&transport=polling')).toBe(
      '/socket.io/?EIO=4&token=[REDACTED]&transport=polling',
    );
    expect(redactUrl('/x?api_key=1&password=2&page=3')).toBe(
      '/x?api_key=[REDACTED]&password=[REDACTED]&page=3',
    );
    expect(redactUrl('/health')).toBe('/health');
  });
});

describe('flattenError', () => {
  it('turns err into error (message) and stack', () => {
    const err = new Error('boom');
    const out = flattenError({ err, context: 'X' });
    expect(out).toEqual({ context: 'X', error: 'boom', stack: err.stack });
  });
  it('leaves other objects alone', () => {
    expect(flattenError({ a: 1 })).toEqual({ a: 1 });
  });
});

describe('isWellFormedRequestId', () => {
  it.each([
    ['abc-123', true],
    ['6f1c9a0e-5d7b-4a43-9d67-2b8f0c7e1a11', true],
    ['', false],
    ['a'.repeat(129), false],
    ['x\r\nSet-Cookie: a=b', false],
    ['<script>', false],
    ['id with spaces', false],
  ])('%j → %s', (id, ok) => {
    expect(isWellFormedRequestId(id)).toBe(ok);
  });
});

describe('censorSecrets', () => {
  it('censors secret-named fields at any depth and credentials inside URLs', () => {
    const out = censorSecrets({
      message: 'x',
      slackWebhook: 'https://hooks.slack.com/services/T/B/secret',
      apiKey: 'k-123',
      nested: {
        redisUrl: 'redis://:hunter2@cache:6379',
        list: [{ accessToken: 'abc' }, 'mongodb://u:p@db/x'],
      },
      count: 3,
      empty: null,
    });
    expect(out).toEqual({
      message: 'x',
      slackWebhook: '[REDACTED]',
      apiKey: '[REDACTED]',
      nested: {
        redisUrl: 'redis://[REDACTED]@cache:6379',
        list: [{ accessToken: '[REDACTED]' }, 'mongodb://[REDACTED]@db/x'],
      },
      count: 3,
      empty: null,
    });
  });

  it('strips URL credentials even under innocent names, and leaves class instances alone', () => {
    const err = new Error('e');
    const out = censorSecrets({ target: 'redis://default:pw@h:1', err });
    expect(out.target).toBe('redis://[REDACTED]@h:1');
    expect(out.err).toBe(err);
  });
});

describe('log redaction of authorization', () => {
  /** One line through the logger options every log line of the app goes through (redact paths and censorSecrets). */
  function logLine(fields: Record<string, unknown>): { text: string; line: Record<string, any> } {
    let text = '';
    const logger = pino(basePinoOptions({ LOG_LEVEL: 'info', SERVICE_NAME: 'redaction', NODE_ENV: 'test' }), {
      write: (s: string) => void (text += s),
    });
    logger.info(fields, 'line');
    return { text, line: JSON.parse(text) };
  }

  /** Something a library hands to a log call: a class instance, which censorSecrets leaves to the redact paths. */
  class OutgoingCall {
    readonly headers: Record<string, string>;
    constructor(authorization: string) {
      this.headers = { authorization, accept: 'application/json' };
    }
  }

  // Plain objects and arrays are censored at any depth (censorSecrets); class instances, which it leaves alone,
  // only down to the fixed redact paths' depth (`*.*.authorization`): these cases pin both mechanisms.
  it('censors an authorization field at any depth, in plain objects, arrays and class instances', () => {
    const { text, line } = logLine({
      authorization: 'Bearer secret-at-top',
      headers: { authorization: 'Bearer secret-in-headers' },
      req: new OutgoingCall('Bearer secret-in-req-instance'),
      upstream: new OutgoingCall('Bearer secret-in-nested-instance'),
      calls: [{ headers: { authorization: 'Bearer secret-in-array' } }],
      a: { b: { c: { d: { Authorization: 'Bearer secret-deep-down' } } } },
    });
    expect(line.authorization).toBe(REDACTED);
    expect(line.headers.authorization).toBe(REDACTED);
    expect(line.req.headers).toEqual({ authorization: REDACTED, accept: 'application/json' });
    expect(line.upstream.headers.authorization).toBe(REDACTED);
    expect(line.calls[0].headers.authorization).toBe(REDACTED);
    expect(line.a.b.c.d.Authorization).toBe(REDACTED);
    expect(text).not.toContain('secret-');
  });
});
