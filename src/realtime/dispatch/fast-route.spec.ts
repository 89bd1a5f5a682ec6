import { Logger } from '@nestjs/common';
import { WsExceptionsHandler } from '@nestjs/websockets/exceptions/ws-exceptions-handler';
import type { Socket } from 'socket.io';
import { FAST_PATH_INTERCEPTOR, FastPathInterceptor } from './fast-path';
import { FastRoute } from './fast-route';

// What a client sees is compared with Nest's pipeline in test/ws-dispatch.e2e-spec.ts; this covers failures
// of the pieces around the handler, which must never escape into Socket.IO or a promise callback.
describe(FastRoute.name, () => {
  const socket = { id: 's1', connected: true, emit: jest.fn() } as unknown as Socket;

  function route(handler: () => unknown, interceptor: Partial<FastPathInterceptor>) {
    const exceptions = new WsExceptionsHandler();
    const caught = jest.fn();
    exceptions.setCustomFilters([{ func: caught, exceptionMetatypes: [] }]);
    const full = { [FAST_PATH_INTERCEPTOR]: true, before: () => 0, after: () => undefined, ...interceptor };
    const r = new FastRoute({
      pattern: 'e',
      instance: {},
      method: handler,
      params: [],
      manualAck: false,
      interceptors: [full as FastPathInterceptor],
      exceptions,
    });
    return { r, caught };
  }

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('survives an ack that throws', () => {
    const { r } = route(() => ({ ok: true }), {});
    expect(() =>
      r.dispatch(socket, [
        {},
        () => {
          throw new Error('socket gone');
        },
      ]),
    ).not.toThrow();
  });

  it('survives an interceptor whose after() throws, and still answers', () => {
    const ack = jest.fn();
    const { r } = route(() => 'v', {
      after: () => {
        throw new Error('metrics broke');
      },
    });
    r.dispatch(socket, [{}, ack]);
    expect(ack).toHaveBeenCalledWith('v');
  });

  it("hands a throwing before() to the filters, without calling that interceptor's after()", () => {
    const after = jest.fn();
    const handler = jest.fn();
    const { r, caught } = route(handler, {
      before: () => {
        throw new Error('before broke');
      },
      after,
    });
    r.dispatch(socket, [{}]);
    expect(handler).not.toHaveBeenCalled();
    expect(caught).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'before broke' }),
      expect.anything(),
    );
    expect(after).not.toHaveBeenCalled();
  });
});
