import { CallHandler, ExecutionContext, Logger } from '@nestjs/common';
import { lastValueFrom, of, throwError, timer, map } from 'rxjs';
import { AppConfig } from '../../config/app-config';
import type { WsCall } from '../dispatch/fast-path';
import type { RealtimeMetrics } from '../realtime.metrics';
import { ackOutcome, WsLatencyInterceptor } from './ws-latency.interceptor';

function wsContext(event: string, userId?: string): ExecutionContext {
  const ws = {
    getPattern: () => event,
    getClient: () => ({ data: userId === undefined ? undefined : { userId } }),
    getData: () => ({}),
  };
  return { switchToWs: () => ws } as unknown as ExecutionContext;
}

describe(WsLatencyInterceptor.name, () => {
  const config = AppConfig.from({ NODE_ENV: 'test', WS_SLOW_EVENT_MS: '30' });
  let metrics: RealtimeMetrics;
  let interceptor: WsLatencyInterceptor;
  let warn: jest.SpyInstance;

  beforeEach(() => {
    // Only the one call the interceptor makes; RealtimeMetrics owns the rest.
    metrics = { enabled: true, recordWsEvent: jest.fn() } as unknown as RealtimeMetrics;
    interceptor = new WsLatencyInterceptor(config, metrics);
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('records a fast handler once with outcome ok and no warning', async () => {
    const next: CallHandler = { handle: () => of({ ok: true }) };
    await expect(
      lastValueFrom(interceptor.intercept(wsContext('portfolio:subscribe', 'u1'), next)),
    ).resolves.toEqual({ ok: true });
    expect(metrics.recordWsEvent).toHaveBeenCalledTimes(1);
    expect(metrics.recordWsEvent).toHaveBeenCalledWith('portfolio:subscribe', expect.any(Number), 'ok');
    expect(warn).not.toHaveBeenCalled();
  });

  it('warns "Slow WebSocket event" with event, user and duration above WS_SLOW_EVENT_MS', async () => {
    const next: CallHandler = { handle: () => timer(60).pipe(map(() => ({ ok: true }))) };
    await lastValueFrom(interceptor.intercept(wsContext('portfolio:subscribe', 'u2'), next));
    const [, duration] = (metrics.recordWsEvent as jest.Mock).mock.calls[0] as [string, number];
    expect(duration).toBeGreaterThanOrEqual(55);
    expect(warn).toHaveBeenCalledWith({
      message: 'Slow WebSocket event',
      event: 'portfolio:subscribe',
      userId: 'u2',
      duration: expect.stringMatching(/^\d+ms$/),
    });
  });

  it('times failures too, with outcome error, and lets the error through', async () => {
    const next: CallHandler = { handle: () => throwError(() => new Error('boom')) };
    await expect(
      lastValueFrom(interceptor.intercept(wsContext('portfolio:unsubscribe'), next)),
    ).rejects.toThrow('boom');
    expect(metrics.recordWsEvent).toHaveBeenCalledTimes(1);
    expect(metrics.recordWsEvent).toHaveBeenCalledWith('portfolio:unsubscribe', expect.any(Number), 'error');
  });

  it('labels a refusal answer by its code, on the pipeline and on the direct hooks alike', async () => {
    const refusal = { ok: false, error: { code: 'FORBIDDEN' } };
    await lastValueFrom(
      interceptor.intercept(wsContext('portfolio:subscribe'), { handle: () => of(refusal) }),
    );
    const call = { pattern: 'portfolio:subscribe', client: { data: { userId: 'u3' } } } as unknown as WsCall;
    interceptor.after(call, interceptor.before(), { failed: false, value: refusal });
    interceptor.after(call, interceptor.before(), { failed: true, error: new Error('x') });
    expect((metrics.recordWsEvent as jest.Mock).mock.calls.map((c: unknown[]) => c[2])).toEqual([
      'forbidden',
      'forbidden',
      'error',
    ]);
  });

  it('maps answers to outcomes: ok for anything that is not a refusal', () => {
    expect(ackOutcome({ ok: true, portfolioId: 'p' })).toBe('ok');
    expect(ackOutcome(null)).toBe('ok');
    expect(ackOutcome({ ok: false, error: { code: 'INVALID_PAYLOAD' } })).toBe('invalid_payload');
    expect(ackOutcome({ ok: false, error: { code: 'SOMETHING_NEW' } })).toBe('error');
  });
});
