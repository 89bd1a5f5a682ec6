import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { InstanceInfo } from '../lifecycle/instance-info';
import { AlertDelivery } from './alert-delivery';
import { AlertHistory } from './alert-history';
import { CLUSTER_WIDE_KEYS, AlertKey } from './alert-keys';
import {
  ActiveAlert,
  AlertNotification,
  AlertSeverity,
  AlertState,
  NotificationKind,
  Reading,
} from './alert.types';
import { Clock } from './clock';

/** A metric must breach (or clear) on this many consecutive evaluations before its state changes. */
export const METRIC_CONSECUTIVE = 2;
/** Connectivity is binary and unambiguous: it fires, and resolves, on the first evaluation. */
export const CONNECTIVITY_CONSECUTIVE = 1;
/** A metric clears a level only below level × (1 − band), so a value hovering at the line cannot flap. */
export const HYSTERESIS_BAND = 0.1;

const RANK: Record<AlertSeverity, number> = { ok: 0, warning: 1, critical: 2 };

interface KeyState {
  key: AlertKey;
  label: string;
  severity: AlertSeverity;
  /** When the alert left ok (start of the active period). */
  since: number | null;
  aboveWarning: number;
  aboveCritical: number;
  belowWarning: number;
  belowCritical: number;
  message: string;
  value: number | null;
  threshold: number | null;
  /** What the channels were last told is active ('ok' = nothing, e.g. a suppressed flapping re-fire). */
  notified: AlertSeverity;
  lastNotifiedAt: number | null;
  lastResolvedAt: number | null;
  lastResolvedSeverity: AlertSeverity;
}

/**
 * The alert lifecycle, per key: ok → warning → critical and back.
 *
 * - A metric changes state after METRIC_CONSECUTIVE consecutive evaluations on the new side of a level (with a
 *   10 % hysteresis band for clearing); connectivity changes on the first.
 * - Channels hear about: entering warning or critical, escalation to critical, resolution, and a reminder at
 *   most every ALERT_REPEAT_MINUTES while it holds. A de-escalation (critical → warning) is recorded, not sent:
 *   the next reminder carries the lower severity, and a re-escalation to an already announced level is silent.
 * - Flapping: a key that fires again within ALERT_REPEAT_MINUTES of its resolved message, at a level no higher
 *   than the one resolved, is recorded but not sent; if it is still active when that window has passed, it is
 *   sent then. Its later resolution is sent only if its firing was. So one key pages at most about twice per
 *   window however fast it flips, and a condition that persists is never hidden longer than one window.
 *
 * Every state change is written to the alert history; sending happens in the background (AlertDelivery), so
 * a slow channel never delays an evaluation.
 */
@Injectable()
export class AlertEngine {
  private readonly keys = new Map<AlertKey, KeyState>();

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly instance: InstanceInfo,
    private readonly history: AlertHistory,
    private readonly delivery: AlertDelivery,
  ) {}

  private get repeatMs(): number {
    return this.config.alerts.repeatMs;
  }

  evaluate(readings: Reading[]): void {
    for (const reading of readings) this.evaluateOne(reading);
  }

  active(): ActiveAlert[] {
    const out: ActiveAlert[] = [];
    for (const s of this.keys.values()) {
      if (s.severity === 'ok' || s.since === null) continue;
      out.push({
        key: s.key,
        severity: s.severity,
        message: s.message,
        value: s.value,
        threshold: s.threshold,
        since: new Date(s.since).toISOString(),
      });
    }
    return out.sort((a, b) => RANK[b.severity] - RANK[a.severity] || a.since.localeCompare(b.since));
  }

  /**
   * Every key evaluated so far, ok ones included: a state mirror (Alertmanager) needs the truth on every
   * evaluation, not the messages, which the flapping and reminder rules thin out on purpose.
   */
  states(): AlertState[] {
    return [...this.keys.values()].map((s) => ({
      key: s.key,
      label: s.label,
      severity: s.severity,
      since: s.since,
      message: s.message,
      clusterWide: CLUSTER_WIDE_KEYS.has(s.key),
    }));
  }

  private evaluateOne(reading: Reading): void {
    const now = this.clock.now();
    const s = this.stateFor(reading);
    const next = this.advance(s, reading);
    const from = s.severity;
    s.value = reading.kind === 'metric' ? round(reading.value) : null;
    s.threshold = reading.kind === 'metric' && next !== 'ok' ? reading[next] : null;
    s.message = describe(reading, next);

    if (next !== from) {
      s.severity = next;
      if (from === 'ok') s.since = now;
      this.history.record({
        key: s.key,
        from,
        to: next,
        message: s.message,
        value: s.value,
        threshold: reading.kind === 'metric' ? (next === 'ok' ? reading.warning : reading[next]) : null,
        timestamp: new Date(now),
        instanceId: this.instance.id,
      });
      this.onTransition(s, from, next, now, reading);
      if (next === 'ok') s.since = null;
      return;
    }
    if (s.severity !== 'ok') this.maybeRemind(s, now);
  }

  /** Updates the streaks with this reading and returns the severity they call for. */
  private advance(s: KeyState, r: Reading): AlertSeverity {
    if (r.kind === 'connectivity') {
      const down = !r.ok;
      s.aboveCritical = s.aboveWarning = down ? s.aboveWarning + 1 : 0;
      s.belowCritical = s.belowWarning = down ? 0 : s.belowWarning + 1;
    } else {
      const clear = (level: number) => r.value < level * (1 - HYSTERESIS_BAND);
      s.aboveWarning = r.value >= r.warning ? s.aboveWarning + 1 : 0;
      s.aboveCritical = r.value >= r.critical ? s.aboveCritical + 1 : 0;
      s.belowWarning = clear(r.warning) ? s.belowWarning + 1 : 0;
      s.belowCritical = clear(r.critical) ? s.belowCritical + 1 : 0;
    }
    const need = r.kind === 'connectivity' ? CONNECTIVITY_CONSECUTIVE : METRIC_CONSECUTIVE;
    if (s.aboveCritical >= need) return 'critical';
    switch (s.severity) {
      case 'critical':
        if (s.belowWarning >= need) return 'ok';
        return s.belowCritical >= need ? 'warning' : 'critical';
      case 'warning':
        return s.belowWarning >= need ? 'ok' : 'warning';
      case 'ok':
        return s.aboveWarning >= need ? 'warning' : 'ok';
    }
  }

  private onTransition(s: KeyState, from: AlertSeverity, to: AlertSeverity, now: number, r: Reading): void {
    if (to === 'ok') {
      if (s.notified === 'ok') return; // its firing was never sent (flapping), so neither is its resolution
      const lasted = s.since === null ? '' : ` after ${formatDuration(now - s.since)}`;
      const text =
        r.kind === 'connectivity'
          ? `${r.label} is reachable again${lasted}`
          : `${r.label} is back to normal${lasted} (now ${formatValue(r.value, r.unit)})`;
      this.send(s, 'resolved', 'ok', text, now);
      s.lastResolvedAt = now;
      s.lastResolvedSeverity = s.notified;
      s.notified = 'ok';
      return;
    }
    if (RANK[to] <= RANK[s.notified]) return; // de-escalation, or back to a level the channels already know
    if (s.notified === 'ok') {
      const flapping =
        s.lastResolvedAt !== null &&
        now - s.lastResolvedAt < this.repeatMs &&
        RANK[to] <= RANK[s.lastResolvedSeverity];
      if (flapping) return;
      this.send(s, 'firing', to, s.message, now);
    } else {
      this.send(s, 'escalated', to, `${s.message} (escalated from ${from})`, now);
    }
    s.notified = to;
  }

  private maybeRemind(s: KeyState, now: number): void {
    if (s.lastNotifiedAt !== null && now - s.lastNotifiedAt < this.repeatMs) return;
    if (s.notified === 'ok') {
      // A flapping re-fire that outlasted the quiet window: the channels must hear it after all.
      this.send(s, 'firing', s.severity, s.message, now);
    } else {
      const since = s.since === null ? '' : ` (active for ${formatDuration(now - s.since)})`;
      this.send(s, 'reminder', s.severity, `Still active${since}: ${s.message}`, now);
    }
    s.notified = s.severity;
  }

  private send(
    s: KeyState,
    kind: NotificationKind,
    severity: AlertSeverity,
    body: string,
    now: number,
  ): void {
    s.lastNotifiedAt = now;
    const clusterWide = CLUSTER_WIDE_KEYS.has(s.key);
    const where = clusterWide ? '' : ` [instance ${this.instance.id}]`;
    const tag = kind === 'resolved' ? 'RESOLVED' : severity.toUpperCase();
    const notification: AlertNotification = {
      key: s.key,
      kind,
      level: kind === 'resolved' ? 'info' : severity === 'critical' ? 'critical' : 'warning',
      text: `[${tag}] ${body}${where}`,
      title: `[${tag}] ${this.config.env.SERVICE_NAME}: ${s.label}`,
      timestamp: now,
      clusterWide,
    };
    this.delivery.deliver(notification);
  }

  private stateFor(r: Reading): KeyState {
    let s = this.keys.get(r.key);
    if (s === undefined) {
      s = {
        key: r.key,
        label: r.label,
        severity: 'ok',
        since: null,
        aboveWarning: 0,
        aboveCritical: 0,
        belowWarning: 0,
        belowCritical: 0,
        message: '',
        value: null,
        threshold: null,
        notified: 'ok',
        lastNotifiedAt: null,
        lastResolvedAt: null,
        lastResolvedSeverity: 'ok',
      };
      this.keys.set(r.key, s);
    }
    return s;
  }
}

function describe(r: Reading, severity: AlertSeverity): string {
  if (r.kind === 'connectivity') {
    return r.ok
      ? `${r.label} is reachable`
      : `${r.label} is unreachable${r.detail === undefined ? '' : `: ${r.detail}`}`;
  }
  const value = formatValue(r.value, r.unit);
  if (severity === 'ok') return `${r.label} is ${value} (warning at ${formatValue(r.warning, r.unit)})`;
  return `${r.label} is ${value}, at or above the ${severity} threshold of ${formatValue(r[severity], r.unit)}`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export function formatValue(n: number, unit: '%' | 'ms' | ''): string {
  const v = round(n);
  return unit === '%' ? `${v}%` : unit === 'ms' ? `${v} ms` : String(v);
}

export function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return `${Math.max(0, Math.round(ms / 1000))}s`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? `${h}h ${m}m` : `${m}m`;
}
