import { existsSync } from 'node:fs';
import { AlertScheduler } from '../src/alerts/alert-scheduler';
import { ALERT_KEYS } from '../src/alerts/alert-keys';
import { AlertmanagerNotifier } from '../src/alerts/notifiers/alertmanager.notifier';
import { InstanceInfo } from '../src/lifecycle/instance-info';
import { WebhookReceiver } from './utils/alert-receivers';
import { ALERTMANAGER_BIN, AlertmanagerTestServer, GettableAlert } from './utils/alertmanager-server';
import { SetMonitor } from './utils/set-monitor';
import { createTestApp, TestApp } from './utils/test-app';

const SERVICE = 'am-test-service';
const HOUR = '3600000';

interface AmWebhook {
  status: 'firing' | 'resolved';
  alerts: Array<{ status: string; labels: Record<string, string> }>;
}

describe('Alertmanager channel (ALERTMANAGER_URL) against a real Alertmanager', () => {
  if (!existsSync(ALERTMANAGER_BIN)) {
    it('needs Debian prometheus-alertmanager', () => {
      throw new Error(
        `${ALERTMANAGER_BIN} is missing: apt-get install prometheus-alertmanager (or run .ci/run)`,
      );
    });
    return;
  }

  const receiver = new WebhookReceiver();
  const am = new AlertmanagerTestServer();
  let t: TestApp;
  let scheduler: AlertScheduler;
  let notifier: AlertmanagerNotifier;
  let instance: string;

  beforeAll(async () => {
    await receiver.start();
    await am.startRoutingTo(receiver.url('/am'));
    // The app's own monitors run hourly, so only the test's readings move the alert states.
    t = await createTestApp({
      ALERTMANAGER_URL: `${am.url}/`,
      SERVICE_NAME: SERVICE,
      ALERT_EVAL_INTERVAL_MS: HOUR,
      ALERT_MEMORY_INTERVAL_MS: HOUR,
      ALERT_RUNBOOK_BASE_URL: 'https://runbooks.example/ops',
    });
    scheduler = t.app.get(AlertScheduler);
    notifier = t.app.get(AlertmanagerNotifier);
    instance = t.app.get(InstanceInfo).id;
  }, 30_000);

  afterAll(async () => {
    await t?.close();
    await am.stop();
    await receiver.stop();
  });

  /** Runs the monitor once at `value` and waits until the push it causes has ended. */
  async function evaluate(monitor: SetMonitor, value: number): Promise<void> {
    monitor.value = value;
    await scheduler.run(monitor);
    await notifier.flush();
  }

  const byKey = async (key: string): Promise<GettableAlert[]> => am.alerts(`alert_key="${key}"`);
  const notifications = (alertname: string) =>
    (receiver.bodies as AmWebhook[]).filter((b) => b.alerts.some((a) => a.labels.alertname === alertname));

  it('fires with the key, severity, service and instance, moves to critical, is re-pushed while it holds, and resolves', async () => {
    const cpu = new SetMonitor(ALERT_KEYS.cpu, 'CPU usage');
    await evaluate(cpu, 80);
    expect(await byKey(ALERT_KEYS.cpu)).toEqual([]); // one breach: nothing yet (the two-breach rule)
    await evaluate(cpu, 80);
    let alerts = await byKey(ALERT_KEYS.cpu);
    expect(
      alerts.map((a) => ({ labels: a.labels, annotations: a.annotations, state: a.status.state })),
    ).toEqual([
      {
        labels: {
          alertname: 'SystemCpu',
          alert_key: 'system.cpu',
          severity: 'warning',
          service: SERVICE,
          instance,
        },
        annotations: {
          summary: 'CPU usage',
          description: 'CPU usage is 80%, at or above the warning threshold of 70%',
          runbook_url: 'https://runbooks.example/ops#systemcpu',
        },
        state: 'active',
      },
    ]);
    const firstEnd = Date.parse(alerts[0].endsAt);
    expect(firstEnd).toBeGreaterThan(Date.now() + 60_000); // valid for 4 intervals, not resolved by a timeout

    await evaluate(cpu, 95);
    await evaluate(cpu, 95);
    alerts = await byKey(ALERT_KEYS.cpu);
    expect(alerts.map((a) => a.labels.severity)).toEqual(['critical']); // the warning was resolved, not left behind

    // Held: every evaluation pushes it again with a later endsAt, though the other channels hear nothing new.
    const before = Date.parse(alerts[0].endsAt);
    await new Promise((r) => setTimeout(r, 1100));
    await evaluate(cpu, 95);
    alerts = await byKey(ALERT_KEYS.cpu);
    expect(Date.parse(alerts[0].endsAt)).toBeGreaterThan(before);
    await am.waitFor('a critical SystemCpu notification from Alertmanager', () =>
      Promise.resolve(
        notifications('SystemCpu').some((b) => b.alerts.some((a) => a.labels.severity === 'critical')),
      ),
    );

    await evaluate(cpu, 10);
    await evaluate(cpu, 10);
    expect(await byKey(ALERT_KEYS.cpu)).toEqual([]);
    await am.waitFor('a resolved SystemCpu notification from Alertmanager', () =>
      Promise.resolve(
        notifications('SystemCpu').some(
          (b) => b.status === 'resolved' && b.alerts.every((a) => a.labels.severity === 'critical'),
        ),
      ),
    );
  });

  it('leaves silences to Alertmanager: a silenced alert is pushed, shown as suppressed, and not notified', async () => {
    const silenceId = await am.silence({ alertname: 'SystemMemory', service: SERVICE });
    const memory = new SetMonitor(ALERT_KEYS.memory, 'Memory usage');
    await evaluate(memory, 99);
    await evaluate(memory, 99);
    await am.waitFor('the silenced alert as suppressed', async () => {
      const [alert] = await byKey(ALERT_KEYS.memory);
      return alert?.status.state === 'suppressed';
    });
    const [alert] = await byKey(ALERT_KEYS.memory);
    expect({ severity: alert.labels.severity, silencedBy: alert.status.silencedBy }).toEqual({
      severity: 'critical',
      silencedBy: [silenceId],
    });
    // Alertmanager flushes a group 1 s after it forms: three times that without a notification is the silence at work.
    await new Promise((r) => setTimeout(r, 3000));
    expect(notifications('SystemMemory')).toEqual([]);
  });

  it('keeps a failed push for the next evaluation, so a resolution is not lost while Alertmanager is away', async () => {
    const errors = new SetMonitor(ALERT_KEYS.httpErrorRate, 'HTTP error rate');
    await evaluate(errors, 95);
    await evaluate(errors, 95);
    expect((await byKey(ALERT_KEYS.httpErrorRate)).map((a) => a.labels.severity)).toEqual(['critical']);
    receiver.reset();
    // The resolution is pushed to an address nobody answers (the same app pointed elsewhere for two evaluations)...
    const env = t.config.env as { ALERTMANAGER_URL?: string };
    const real = env.ALERTMANAGER_URL;
    env.ALERTMANAGER_URL = receiver.url('/down');
    receiver.fallback = { kind: 'status', status: 503 };
    await evaluate(errors, 1);
    await evaluate(errors, 1);
    expect((await byKey(ALERT_KEYS.httpErrorRate)).map((a) => a.labels.severity)).toEqual(['critical']);
    // ...and reaches Alertmanager with the next evaluation once it is back.
    env.ALERTMANAGER_URL = real;
    await evaluate(errors, 1);
    expect(await byKey(ALERT_KEYS.httpErrorRate)).toEqual([]);
  });
});
