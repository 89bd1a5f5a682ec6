import { censorSecrets, redactUrl } from './log-redaction';
import { flattenError } from './logger.options';
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
