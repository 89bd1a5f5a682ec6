import { AppConfig } from '../config/app-config';
import { InstanceInfo } from '../lifecycle/instance-info';
import { AlertDelivery } from './alert-delivery';
import { AlertEngine } from './alert-engine';
import { AlertHistory } from './alert-history';
import { ALERT_KEYS } from './alert-keys';
import type { AlertNotification, ConnectivityReading, MetricReading } from './alert.types';
import { Clock } from './clock';

class FakeClock extends Clock {
  t = Date.UTC(2025, 0, 1, 0, 0, 0);
  override now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const MIN = 60_000;

function setup(env: Record<string, string> = {}) {
  const config = AppConfig.from({ NODE_ENV: 'test', RAILWAY_REPLICA_ID: 'replica-1', ...env });
  const clock = new FakeClock();
  const history = new AlertHistory(null);
  const sent: AlertNotification[] = [];
  const delivery = { deliver: (n: AlertNotification) => sent.push(n) } as unknown as AlertDelivery;
  const engine = new AlertEngine(config, clock, new InstanceInfo(config), history, delivery);
  return { engine, clock, history, sent };
}

const cpu = (value: number): MetricReading => ({
  kind: 'metric',
  key: ALERT_KEYS.cpu,
  label: 'CPU usage',
  value,
  unit: '%',
  warning: 70,
  critical: 90,
});
const redis = (ok: boolean): ConnectivityReading => ({
  kind: 'connectivity',
  key: ALERT_KEYS.redisDown,
  label: 'Redis',
  ok,
  detail: ok ? undefined : 'Redis connection is not available (status: reconnecting)',
});

describe(AlertEngine.name, () => {
  it('a metric fires only on the second consecutive breach: one spike pages nobody', () => {
    const { engine, sent, clock } = setup();
    engine.evaluate([cpu(95)]);
    clock.advance(30_000);
    engine.evaluate([cpu(10)]);
    clock.advance(30_000);
    engine.evaluate([cpu(95)]);
    expect(sent).toEqual([]);
    expect(engine.active()).toEqual([]);
    clock.advance(30_000);
    engine.evaluate([cpu(95)]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      key: 'system.cpu',
      kind: 'firing',
      level: 'critical',
      text: '[CRITICAL] CPU usage is 95%, at or above the critical threshold of 90% [instance replica-1]',
      clusterWide: false,
    });
    expect(engine.active()).toEqual([
      {
        key: 'system.cpu',
        severity: 'critical',
        message: 'CPU usage is 95%, at or above the critical threshold of 90%',
        value: 95,
        threshold: 90,
        since: new Date(clock.now()).toISOString(),
      },
    ]);
  });

  it('connectivity fires on the first failure and resolves on the first success', () => {
    const { engine, sent, clock } = setup();
    engine.evaluate([redis(true)]);
    engine.evaluate([redis(false)]);
    expect(sent.map((n) => [n.kind, n.level, n.clusterWide])).toEqual([['firing', 'critical', true]]);
    expect(sent[0].text).toBe(
      '[CRITICAL] Redis is unreachable: Redis connection is not available (status: reconnecting)',
    );
    clock.advance(3 * MIN);
    engine.evaluate([redis(false)]);
    clock.advance(MIN);
    engine.evaluate([redis(true)]);
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'resolved']);
    expect(sent[1]).toMatchObject({ level: 'info', text: '[RESOLVED] Redis is reachable again after 4m' });
    expect(engine.active()).toEqual([]);
  });

  it('a condition held for three hours: one alert and two reminders (ALERT_REPEAT_MINUTES=60)', () => {
    const { engine, sent, clock } = setup();
    for (let t = 0; t <= 180 * MIN; t += 30_000) {
      engine.evaluate([cpu(93)]);
      clock.advance(30_000);
    }
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'reminder', 'reminder']);
    expect(sent[1].text).toBe(
      '[CRITICAL] Still active (active for 1h 0m): CPU usage is 93%, at or above the critical threshold of 90% [instance replica-1]',
    );
    expect(sent[2].timestamp - sent[0].timestamp).toBe(120 * MIN);
  });

  it('honours ALERT_REPEAT_MINUTES', () => {
    const { engine, sent, clock } = setup({ ALERT_REPEAT_MINUTES: '15' });
    for (let t = 0; t < 60 * MIN; t += 30_000) {
      engine.evaluate([cpu(93)]);
      clock.advance(30_000);
    }
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'reminder', 'reminder', 'reminder']);
  });

  it('notifies escalation, records de-escalation silently, and resolves once', () => {
    const { engine, sent, clock, history } = setup();
    const step = (v: number) => {
      engine.evaluate([cpu(v)]);
      clock.advance(30_000);
    };
    step(75);
    step(75); // warning
    step(95);
    step(95); // critical (escalated)
    step(75);
    step(75); // back to warning: recorded, not sent
    step(95);
    step(95); // critical again: already announced, not sent
    step(20);
    step(20); // resolved
    expect(sent.map((n) => `${n.kind}:${n.level}`)).toEqual([
      'firing:warning',
      'escalated:critical',
      'resolved:info',
    ]);
    expect(sent[1].text).toContain('(escalated from warning)');
    expect(sent[2].text).toBe(
      '[RESOLVED] CPU usage is back to normal after 4m (now 20%) [instance replica-1]',
    );
    return history
      .recent()
      .then((recent) =>
        expect(recent.map((t) => `${t.from}->${t.to}`)).toEqual([
          'critical->ok',
          'warning->critical',
          'critical->warning',
          'warning->critical',
          'ok->warning',
        ]),
      );
  });

  it('hysteresis: a value hovering just under the line does not resolve', () => {
    const { engine, sent, clock } = setup();
    for (const v of [75, 75, 68, 69, 67, 66, 64, 65]) {
      engine.evaluate([cpu(v)]);
      clock.advance(30_000);
    }
    expect(sent.map((n) => n.kind)).toEqual(['firing']);
    expect(engine.active()).toHaveLength(1);
    engine.evaluate([cpu(62)]);
    engine.evaluate([cpu(62.9)]);
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'resolved']);
  });

  it('a flapping condition does not page on every flip', () => {
    const { engine, sent, clock } = setup();
    // Alternating each evaluation never makes two consecutive breaches: no page at all.
    for (let i = 0; i < 40; i++) {
      engine.evaluate([cpu(i % 2 === 0 ? 95 : 10)]);
      clock.advance(30_000);
    }
    expect(sent).toEqual([]);
    // Two on, two off for an hour: one alert, one resolution, then quiet.
    for (let i = 0; i < 120; i++) {
      engine.evaluate([cpu(i % 4 < 2 ? 95 : 10)]);
      clock.advance(30_000);
    }
    expect(sent.length).toBeLessThanOrEqual(4);
    expect(sent.slice(0, 2).map((n) => n.kind)).toEqual(['firing', 'resolved']);
  });

  it('flapping connectivity: the first down pages, re-fires within the window are silent, a lasting one pages after it', () => {
    const { engine, sent, clock } = setup();
    for (let i = 0; i < 20; i++) {
      engine.evaluate([redis(i % 2 === 1)]);
      clock.advance(MIN);
    }
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'resolved']);
    // Down for good now: once the quiet window since the resolution has passed, it pages again.
    for (let i = 0; i < 60; i++) {
      engine.evaluate([redis(false)]);
      clock.advance(MIN);
    }
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'resolved', 'firing']);
    expect(sent[2].timestamp - sent[1].timestamp).toBe(60 * MIN);
    engine.evaluate([redis(true)]);
    expect(sent.map((n) => n.kind)).toEqual(['firing', 'resolved', 'firing', 'resolved']);
  });

  it('a re-fire at a higher level than the one resolved is not suppressed', () => {
    const { engine, sent, clock } = setup();
    for (const v of [75, 75, 10, 10, 95, 95]) {
      engine.evaluate([cpu(v)]);
      clock.advance(30_000);
    }
    expect(sent.map((n) => `${n.kind}:${n.level}`)).toEqual([
      'firing:warning',
      'resolved:info',
      'firing:critical',
    ]);
  });

  it('writes every transition to history with value, threshold and instance', async () => {
    const { engine, clock, history } = setup();
    engine.evaluate([cpu(80)]);
    clock.advance(30_000);
    engine.evaluate([cpu(81)]);
    const [t] = await history.recent();
    expect(t).toEqual({
      key: 'system.cpu',
      from: 'ok',
      to: 'warning',
      message: 'CPU usage is 81%, at or above the warning threshold of 70%',
      value: 81,
      threshold: 70,
      timestamp: new Date(clock.now()),
      instanceId: 'replica-1',
    });
  });
});
