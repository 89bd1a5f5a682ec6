import { classifyDisconnect } from './disconnect-reasons';
import { DISCONNECT_REASONS } from './realtime.events';

describe(classifyDisconnect.name, () => {
  it.each([
    ['client namespace disconnect', 'client_close'],
    ['transport close', 'transport_close'],
    ['transport error', 'transport_error'],
    ['ping timeout', 'ping_timeout'],
    ['parse error', 'parse_error'],
    ['forced close', 'parse_error'],
    ['server shutting down', 'server_shutdown'],
    ['server namespace disconnect', 'unknown'],
    ['something newer', 'unknown'],
  ])('maps %s to %s', (reason, label) => {
    expect(classifyDisconnect(reason, undefined, undefined)).toBe(label);
  });

  it('tells an over-size message from other transport errors by the error engine.io passes', () => {
    // What engine.io makes of ws's RangeError (websocket) and of its own polling check.
    const ws = new Error(String(new RangeError('Max payload size exceeded')));
    expect(classifyDisconnect('transport error', ws, undefined)).toBe('oversize_message');
    expect(classifyDisconnect('transport error', new Error('payload too large'), undefined)).toBe(
      'oversize_message',
    );
  });

  it('prefers the purpose the server recorded', () => {
    expect(classifyDisconnect('server namespace disconnect', undefined, DISCONNECT_REASONS.FLOODING)).toBe(
      'flooding',
    );
    expect(classifyDisconnect('forced close', undefined, DISCONNECT_REASONS.SERVER_SHUTDOWN)).toBe(
      'server_shutdown',
    );
  });
});
