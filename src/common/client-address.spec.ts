import express from 'express';
import type { IncomingMessage } from 'node:http';
import request from 'supertest';
import { addressKey, clientAddress, TrustProxy } from './client-address';

/** The same request seen by Express (req.ip under `trust proxy`) and by clientAddress: they must agree. */
async function both(trust: TrustProxy, xff: string | undefined): Promise<{ express: string; ours: string }> {
  const app = express();
  app.set('trust proxy', trust);
  app.get('/', (req, res) => {
    res.json({ express: req.ip, ours: clientAddress(req as IncomingMessage, trust) });
  });
  const r = request(app).get('/');
  if (xff !== undefined) r.set('X-Forwarded-For', xff);
  return (await r.expect(200)).body as { express: string; ours: string };
}

describe(clientAddress.name, () => {
  const cases: Array<[TrustProxy, string | undefined]> = [
    [false, undefined],
    [false, '6.6.6.6'],
    [0, '6.6.6.6, 7.7.7.7'],
    [1, undefined],
    [1, '203.0.113.9'],
    [1, '6.6.6.6, 203.0.113.9'],
    [1, '6.6.6.6,203.0.113.9 ,  '],
    [2, '6.6.6.6, 203.0.113.9, 10.0.0.2'],
    [2, '203.0.113.9'],
    [true, '6.6.6.6, 203.0.113.9'],
    [true, undefined],
  ];

  it.each(cases)(
    'TRUST_PROXY=%p with X-Forwarded-For %p: the address Express gives req.ip',
    async (trust, xff) => {
      const { express: fromExpress, ours } = await both(trust, xff);
      expect(ours).toBe(fromExpress);
    },
  );

  it('off: a client’s own X-Forwarded-For is ignored; 1 hop: only the entry the proxy appended counts', async () => {
    expect((await both(false, '6.6.6.6')).ours).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect((await both(1, '6.6.6.6, 203.0.113.9')).ours).toBe('203.0.113.9');
  });

  it('counts an IPv4 client under one key whether it arrives IPv4-mapped or plain', () => {
    expect(addressKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('2001:db8::1')).toBe('2001:db8::1');
  });
});
