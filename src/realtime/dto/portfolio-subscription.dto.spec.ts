import { parsePortfolioSubscription } from './portfolio-subscription.dto';

describe('parsePortfolioSubscription', () => {
  it('accepts exactly {portfolioId} with a valid id', () => {
    expect(parsePortfolioSubscription({ portfolioId: 'Port_folio-1' })).toEqual({
      ok: true,
      value: 'Port_folio-1',
    });
    expect(parsePortfolioSubscription({ portfolioId: 'a'.repeat(64) })).toEqual({
      ok: true,
      value: 'a'.repeat(64),
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
  ])('refuses %p', (payload) => {
    expect(parsePortfolioSubscription(payload)).toEqual({ ok: false, message: expect.any(String) });
  });
});
