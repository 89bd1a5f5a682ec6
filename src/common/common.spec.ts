import { bearerToken, credentialFromAuthorization, safeEqual } from './constant-time';
import { memoryLimit, SystemUsageSampler } from './system-usage';
import { TimeoutError, withTimeout } from './with-timeout';

describe('withTimeout', () => {
  it('settles with the promise when it is in time', async () => {
    await expect(withTimeout(Promise.resolve(7), 100, 'late')).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('no')), 100, 'late')).rejects.toThrow('no');
  });

  it('rejects with TimeoutError when the promise hangs, and a late rejection is not unhandled', async () => {
    let rejectLate: (e: Error) => void = () => undefined;
    const hanging = new Promise<never>((_, reject) => (rejectLate = reject));
    await expect(withTimeout(hanging, 20, 'took too long')).rejects.toEqual(
      new TimeoutError('took too long'),
    );
    rejectLate(new Error('late failure'));
    await new Promise((r) => setImmediate(r));
  });
});

describe('safeEqual / credentialFromAuthorization', () => {
  it('compares exactly, whatever the lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', 'x')).toBe(false);
  });

  it('reads Bearer tokens and basic-auth passwords, nothing else', () => {
    expect(credentialFromAuthorization('Bearer t0k')).toBe('t0k');
    expect(credentialFromAuthorization('bearer t0k')).toBe('t0k');
    expect(credentialFromAuthorization(`Basic ${Buffer.from('ops:pa:ss').toString('base64')}`)).toBe('pa:ss');
    expect(credentialFromAuthorization(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBeNull();
    expect(credentialFromAuthorization('Token abc')).toBeNull();
    expect(credentialFromAuthorization('Bearer')).toBeNull();
    expect(credentialFromAuthorization(undefined)).toBeNull();
  });

  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  it.each([
    ['a second word', 'Bearer t0k junk'],
    ['two spaces', 'Bearer  t0k'],
    ['a tab', 'Bearer\tt0k'],
    ['a comma list', 'Bearer t0k,Bearer other'],
    ['no space', 'Bearert0k'],
    ['an empty token', 'Bearer '],
    ['characters outside token68', 'Bearer t0k!'],
    ['padding in the middle', 'Bearer t0k=x'],
    ['basic auth with junk after', `${basic('ops:pw')} junk`],
    ['basic auth that is not base64', 'Basic ops:pw'],
  ])('parses strictly: refuses %s', (_name, header) => {
    expect(credentialFromAuthorization(header)).toBeNull();
    expect(bearerToken(header)).toBeNull();
  });

  it('accepts any case of the scheme and token68 characters; bearerToken takes Bearer only', () => {
    expect(credentialFromAuthorization('BEARER a-b.c_d~e+f/g==')).toBe('a-b.c_d~e+f/g==');
    expect(bearerToken('bearer t0k')).toBe('t0k');
    expect(bearerToken(basic('ops:t0k'))).toBeNull();
    expect(credentialFromAuthorization(basic('ops:t0k'))).toBe('t0k');
  });
});

describe(SystemUsageSampler.name, () => {
  it('reports percentages within 0-100 and the heap against its limit, not heapTotal', () => {
    const sampler = new SystemUsageSampler();
    const usage = sampler.sample();
    for (const p of [usage.cpuPercent, usage.memoryPercent, usage.heapPercent]) {
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(100);
    }
    expect(usage.heapLimitBytes).toBeGreaterThan(process.memoryUsage().heapTotal);
    expect(usage.memoryLimitBytes).toBe(memoryLimit().bytes);
    expect(usage.rssBytes).toBeGreaterThan(0);
  });

  it('measures CPU over the interval since the previous sample, against the CPUs available', () => {
    let now = 0;
    let cpu = { user: 0, system: 0 };
    const sampler = new SystemUsageSampler({ now: () => now, cpuUsage: () => cpu, cpus: 2 });
    now = 1000; // ms
    cpu = { user: 400_000, system: 100_000 }; // 0.5 s of CPU in 1 s on 2 CPUs
    expect(sampler.sample().cpuPercent).toBe(25);
    now = 1500;
    cpu = { user: 1_200_000, system: 300_000 }; // 1 s of CPU in the next 0.5 s: both CPUs busy
    expect(sampler.sample().cpuPercent).toBe(100);
    now = 2500;
    expect(sampler.sample().cpuPercent).toBe(0);
  });
});
