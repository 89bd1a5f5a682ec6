import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from './hot-metrics';

/** Sample lines of an exposition with each line's labels sorted, so label order does not matter. */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/\{([^}]*)\}/, (_m, inner: string) => `{${inner.split(',').sort().join(',')}}`))
    .sort();
}

describe(HotHistogram.name, () => {
  it("exposes exactly what prom-client's Histogram exposes for the same observations", async () => {
    const bounds = [0.001, 0.01, 0.1, 1];
    const values: Array<[string, number]> = [
      ['a', 0.0005],
      ['a', 0.001],
      ['a', 0.05],
      ['b', 3],
      ['a', 0.1],
      ['b', 0.01],
    ];
    const hotRegistry = new Registry();
    const hot = new HotHistogram('x_seconds', 'help text', 'event', bounds, hotRegistry);
    const refRegistry = new Registry();
    const ref = new Histogram({
      name: 'x_seconds',
      help: 'help text',
      labelNames: ['event'],
      buckets: bounds,
      registers: [refRegistry],
    });
    for (const [label, v] of values) {
      hot.series(label).observe(v);
      ref.labels(label).observe(v);
    }
    expect(samples(await hotRegistry.metrics())).toEqual(samples(await refRegistry.metrics()));
  });
});

describe(HotCounter.name, () => {
  it("exposes exactly what prom-client's Counter exposes, including zero-initialised series", async () => {
    const hotRegistry = new Registry();
    const hot = new HotCounter('y_total', 'help text', 'action', hotRegistry);
    const refRegistry = new Registry();
    const ref = new Counter({
      name: 'y_total',
      help: 'help text',
      labelNames: ['action'],
      registers: [refRegistry],
    });
    hot.series('unsubscribe');
    ref.labels('unsubscribe').inc(0);
    hot.series('subscribe').inc();
    hot.series('subscribe').inc(2);
    ref.labels('subscribe').inc(3);
    expect(samples(await hotRegistry.metrics())).toEqual(samples(await refRegistry.metrics()));
  });
});
