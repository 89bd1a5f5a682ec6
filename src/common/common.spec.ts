import { credentialFromAuthorization, safeEqual } from './constant-time';
import { cpuLimit, memoryLimit, SystemUsageSampler } from './system-usage';
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

  it('measures CPU over the interval since the previous sample', () => {
    const sampler = new SystemUsageSampler();
    sampler.sample();
    const end = performance.now() + 60;
    let x = 0;
    while (performance.now() < end) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const busy = sampler.sample();
    // One busy core out of cpuLimit() cores, over ~60 ms.
    expect(busy.cpuPercent).toBeGreaterThan(100 / cpuLimit() / 2);
  });
});
