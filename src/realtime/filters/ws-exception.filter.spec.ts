import { ArgumentsHost, Logger } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { ErrorReporter } from '../../error-tracking/error-reporter';
import { RealtimeExceptionFilter } from './ws-exception.filter';

function host(ack: jest.Mock): ArgumentsHost {
  const ws = {
    getPattern: () => 'portfolio:subscribe',
    getClient: () => ({ id: 's1', data: { userId: 'u1' } }),
    getData: () => ({}),
  };
  // The argument shape Nest hands to filters of a gateway: client, data, ack, pattern.
  const args = [{ id: 's1' }, {}, ack, 'portfolio:subscribe'];
  return {
    switchToWs: () => ws,
    getArgs: () => args,
    getArgByIndex: (i: number) => args[i],
  } as unknown as ArgumentsHost;
}

describe(RealtimeExceptionFilter.name, () => {
  let reporter: { report: jest.Mock };
  let filter: RealtimeExceptionFilter;
  let logError: jest.SpyInstance;

  beforeEach(() => {
    reporter = { report: jest.fn() };
    filter = new RealtimeExceptionFilter(reporter as unknown as ErrorReporter);
    logError = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('answers INTERNAL to an unexpected error, logs it once with the error and reports it', () => {
    const ack = jest.fn();
    const err = new Error('kaput');
    filter.catch(err, host(ack));
    expect(ack).toHaveBeenCalledWith({ ok: false, error: { code: 'INTERNAL', message: 'Internal error' } });
    expect(logError).toHaveBeenCalledTimes(1);
    expect(logError).toHaveBeenCalledWith(
      expect.objectContaining({
        message: 'WebSocket event error',
        err,
        event: 'portfolio:subscribe',
        userId: 'u1',
      }),
    );
    expect(reporter.report).toHaveBeenCalledWith(err, {
      kind: 'ws',
      event: 'portfolio:subscribe',
      userId: 'u1',
      socketId: 's1',
    });
  });

  it('answers a WsException with its message, without logging or reporting it', () => {
    const ack = jest.fn();
    filter.catch(new WsException('portfolioId is required'), host(ack));
    expect(ack).toHaveBeenCalledWith({
      ok: false,
      error: { code: 'INVALID_PAYLOAD', message: 'portfolioId is required' },
    });
    expect(logError).not.toHaveBeenCalled();
    expect(reporter.report).not.toHaveBeenCalled();
  });

  it('survives a failing error reporter', () => {
    reporter.report.mockImplementation(() => {
      throw new Error('tracker down');
    });
    const ack = jest.fn();
    filter.catch(new Error('x'), host(ack));
    expect(ack).toHaveBeenCalledWith(
      expect.objectContaining({ ok: false, error: expect.objectContaining({ code: 'INTERNAL' }) }),
    );
  });
});
