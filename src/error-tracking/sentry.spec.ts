import { parseEnv } from '../config/env.schema';
import { loadProfilingIntegration, nativeProfiler, sentryOptions } from './sentry';

/** Keeps the CPU busy in a frame with a known name, so the profile has something to show. */
function burnCpu(ms: number): number {
  let x = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  return x;
}

describe(loadProfilingIntegration.name, () => {
  it(`loads the profiler's prebuilt native module on this Node (${process.version}, ABI ${process.versions.modules}) and records a real CPU profile`, () => {
    expect(loadProfilingIntegration()).toEqual({
      integration: expect.objectContaining({ name: 'ProfilingIntegration' }) as unknown,
    });
    const { CpuProfilerBindings } = nativeProfiler();
    CpuProfilerBindings.startProfiling('sentry-spec');
    burnCpu(300);
    const profile = CpuProfilerBindings.stopProfiling('sentry-spec', 0);
    expect(profile?.samples.length).toBeGreaterThan(0);
    expect(profile?.frames.map((f) => f.function)).toContain('burnCpu');
  });

  it('where no prebuilt binary matches this platform and ABI: no integration, the reason in one line, nothing printed', () => {
    const log = jest.spyOn(console, 'log');
    const warn = jest.spyOn(console, 'warn');
    // The profiler picks its binary by platform, architecture, libc and ABI; this architecture has none.
    process.env.BUILD_ARCH = 'no-such-arch';
    let loaded: ReturnType<typeof loadProfilingIntegration> | undefined;
    try {
      jest.isolateModules(() => (loaded = loadProfilingIntegration()));
    } finally {
      delete process.env.BUILD_ARCH;
      log.mockRestore();
      warn.mockRestore();
    }
    expect(loaded).toEqual({ error: expect.stringContaining('no-such-arch') as unknown });
    const error = (loaded as { error: string }).error;
    expect(error).toMatch(/^native profiler does not load on Node v\d+\.\d+\.\d+: /);
    expect(error).not.toContain('\n');
    expect(log).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  });
});

describe(sentryOptions.name, () => {
  it("scrubs every alert channel's secret from breadcrumbs and events", () => {
    const secrets = {
      ALERT_WEBHOOK_URL: 'https://hooks.example/alerts/secret-webhook-path',
      ALERT_WEBHOOK_SECRET: 'webhook-signing-secret-0123456789abcdef',
      ALERTMANAGER_URL: 'http://alertmanager.internal:9093/secret-prefix',
      PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0123456789abcdefabcdef',
    };
    const options = sentryOptions(parseEnv(secrets), null);
    const crumb = options.beforeBreadcrumb?.(
      { category: 'fetch', data: { url: secrets.ALERT_WEBHOOK_URL, body: Object.values(secrets).join(' ') } },
      {},
    );
    const text = JSON.stringify(crumb);
    expect(text).toContain('[REDACTED]');
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).not.toContain('secret-webhook-path');
  });
});
