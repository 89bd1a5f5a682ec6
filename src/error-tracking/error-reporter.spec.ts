import { BadRequestException, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';

interface Captured {
  error: unknown;
  hint: unknown;
  tags: Record<string, string>;
  user?: unknown;
  transaction?: string;
}
const captured: Captured[] = [];
let clientPresent = true;
let current: Omit<Captured, 'error' | 'hint'> = { tags: {} };

// The one thing that reaches outside: the Sentry SDK, replaced by a recorder of what would be sent.
jest.mock('@sentry/nestjs', () => ({
  getClient: () => (clientPresent ? {} : undefined),
  withScope: (fn: (scope: unknown) => void) => {
    current = { tags: {} };
    fn({
      setTag: (k: string, v: string) => (current.tags[k] = v),
      setUser: (u: unknown) => (current.user = u),
      setTransactionName: (t: string) => (current.transaction = t),
      setContext: () => undefined,
    });
  },
  captureException: (error: unknown, hint: unknown) => captured.push({ error, hint, ...current }),
}));

import { ErrorReporter, isExpectedError } from './error-reporter';

describe(ErrorReporter.name, () => {
  beforeEach(() => {
    captured.length = 0;
    clientPresent = true;
  });

  it('treats 4xx, WsException and validation failures as expected, everything else as unexpected', () => {
    expect(isExpectedError(new WsException('bad'))).toBe(true);
    expect(isExpectedError(new BadRequestException(['price must be a number']))).toBe(true);
    expect(isExpectedError(new NotFoundException())).toBe(true);
    expect(isExpectedError(new ServiceUnavailableException())).toBe(false);
    expect(isExpectedError(new TypeError('x is undefined'))).toBe(false);
    expect(isExpectedError('a string')).toBe(false);
  });

  it('reports a socket handler error with event, user and socket id (what the gateway filter passes)', () => {
    const err = new Error('handler blew up');
    new ErrorReporter().report(err, {
      kind: 'ws',
      event: 'portfolio:subscribe',
      userId: 'user-7',
      socketId: 'sock-1',
    });
    expect(captured).toHaveLength(1);
    expect(captured[0]).toMatchObject({
      error: err,
      hint: { mechanism: { handled: true, type: 'auto.ws.error_reporter' } },
      tags: { 'error.kind': 'ws', 'ws.event': 'portfolio:subscribe', socket_id: 'sock-1' },
      user: { id: 'user-7' },
      transaction: 'ws portfolio:subscribe',
    });
  });

  it('drops expected errors and does nothing without Sentry', () => {
    const reporter = new ErrorReporter();
    reporter.report(new WsException('nope'), { kind: 'ws', event: 'x' });
    reporter.report(new BadRequestException(), { kind: 'http', route: '/events' });
    expect(captured).toHaveLength(0);
    clientPresent = false;
    reporter.report(new Error('boom'), { kind: 'http', route: '/x' });
    expect(captured).toHaveLength(0);
  });
});
