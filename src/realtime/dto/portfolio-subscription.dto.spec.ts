import { parsePortfolioSubscription, parsePosition } from './portfolio-subscription.dto';

describe('parsePortfolioSubscription', () => {
  it('accepts exactly {portfolioId} with a valid id', () => {
    expect(parsePortfolioSubscription({ portfolioId: 'Port_folio-1' })).toEqual({
      ok: true,
      value: { portfolioId: 'Port_folio-1', since: null },
    });
    expect(parsePortfolioSubscription({ portfolioId: 'a'.repeat(64) })).toEqual({
      ok: true,
      value: { portfolioId: 'a'.repeat(64), since: null },
    });
  });

  it('accepts since only where allowed (subscribe, not unsubscribe)', () => {
    const payload = { portfolioId: 'p1', since: { epoch: 'ab12', offset: 7 } };
    expect(parsePortfolioSubscription(payload, true)).toEqual({
      ok: true,
      value: { portfolioId: 'p1', since: { epoch: 'ab12', offset: 7 } },
    });
    expect(parsePortfolioSubscription(payload)).toEqual({ ok: false, message: 'unexpected field "since"' });
    expect(parsePortfolioSubscription({ portfolioId: 'p1', since: null }, true)).toEqual({
      ok: true,
      value: { portfolioId: 'p1', since: null },
    });
  });

  it.each([
    undefined,
    null,
    'p1',
    ['p1'],
    {},
    { portfolioId: '' },
    { portfolioId: 'a'.repeat(65) },
    { portfolioId: 'p 1' },
    { portfolioId: 1 },
    { portfolioId: 'p1', extra: true },
    JSON.parse('{"portfolioId":"p1","__proto__":{"x":1}}'),
    Object.assign(Object.create({ inherited: true }), { portfolioId: 'p1' }),
    Object.create(null),
    new Map([['portfolioId', 'p1']]),
    { portfolioId: 'p1', since: 'e:1' },
    { portfolioId: 'p1', since: { epoch: 'e' } },
    { portfolioId: 'p1', since: { epoch: 'e', offset: -1 } },
    { portfolioId: 'p1', since: { epoch: 'e', offset: 1.5 } },
    { portfolioId: 'p1', since: { epoch: 'e', offset: '3' } },
    { portfolioId: 'p1', since: { epoch: 'e', offset: 2 ** 53 } },
    { portfolioId: 'p1', since: { epoch: '', offset: 1 } },
    { portfolioId: 'p1', since: { epoch: 'x'.repeat(65), offset: 1 } },
    { portfolioId: 'p1', since: { epoch: 'e', offset: 1, extra: 1 } },
    { portfolioId: 'p1', since: [1, 2] },
  ])('refuses %p', (payload) => {
    expect(parsePortfolioSubscription(payload, true)).toEqual({ ok: false, message: expect.any(String) });
  });

  it('names the field in position errors', () => {
    expect(parsePosition({ epoch: 'e', offset: -2 })).toEqual({
      ok: false,
      message: 'since.offset must be a whole number >= 0',
    });
  });
});
