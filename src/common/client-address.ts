import type { IncomingMessage } from 'node:http';

/** TRUST_PROXY as parsed: false (the TCP peer), true (every proxy) or the number of proxy hops to trust. */
export type TrustProxy = boolean | number;

/**
 * The client address of a request under Express's `trust proxy` rules, for code that sees the raw Node request
 * (engine.io's `allowRequest`) rather than Express's `req.ip`. The chain is the TCP peer followed by the
 * X-Forwarded-For entries from right (nearest proxy) to left; `false` takes the peer, a number `n` takes the
 * entry `n` hops away (or the farthest there is), `true` the farthest. So with TRUST_PROXY off a client's own
 * X-Forwarded-For header changes nothing, and with `1` only the entry the nearest proxy appended counts.
 * src/common/client-address.spec.ts checks these answers against Express's own `req.ip`.
 */
export function clientAddress(req: IncomingMessage, trust: TrustProxy): string {
  const peer = req.socket.remoteAddress ?? '';
  if (trust === false || trust === 0) return peer;
  const header = req.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  const forwarded = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .reverse();
  const chain = [peer, ...forwarded];
  const hop = trust === true ? chain.length - 1 : Math.min(trust, chain.length - 1);
  return chain[hop];
}

/**
 * The key one address is counted under: an IPv4 client seen as `::ffff:1.2.3.4` on a dual-stack socket and as
 * `1.2.3.4` in a proxy header is one client.
 */
export function addressKey(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
