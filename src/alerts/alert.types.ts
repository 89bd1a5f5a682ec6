import type { AlertSeverity } from '../history/history.types';
import type { AlertKey } from './alert-keys';

export type { AlertSeverity };

/** A measured figure compared with a warning and a critical level (a breach is value >= level). */
export interface MetricReading {
  kind: 'metric';
  key: AlertKey;
  /** Human name used in messages, e.g. "CPU usage". */
  label: string;
  value: number;
  unit: '%' | 'ms' | '';
  warning: number;
  critical: number;
}

/** A dependency that is reachable or not; unreachable is critical. */
export interface ConnectivityReading {
  kind: 'connectivity';
  key: AlertKey;
  label: string;
  ok: boolean;
  /** Why it failed, safe to show (never a URL). */
  detail?: string;
}

export type Reading = MetricReading | ConnectivityReading;

/** One scheduled check. `check` gets a signal that aborts when the run times out. */
export interface Monitor {
  readonly name: string;
  readonly intervalMs: number;
  /** False when what it watches is not configured (e.g. no REDIS_URL): it is never scheduled. */
  readonly enabled: boolean;
  check(signal: AbortSignal): Promise<Reading[]>;
}

export type NotificationKind = 'firing' | 'escalated' | 'reminder' | 'resolved';

/** Message levels; each maps to a colour (critical red, warning orange, info blue, anything else grey). */
export type NotificationLevel = 'critical' | 'warning' | 'info';

export interface AlertNotification {
  key: AlertKey;
  kind: NotificationKind;
  level: NotificationLevel;
  /** One line, the same on every channel. */
  text: string;
  /** Short form for e-mail subjects. */
  title: string;
  /** Epoch milliseconds. */
  timestamp: number;
  /** True when several replicas may detect it (a shared dependency): posted once across replicas. */
  clusterWide: boolean;
}

export interface ActiveAlert {
  key: string;
  severity: 'warning' | 'critical';
  message: string;
  value: number | null;
  threshold: number | null;
  since: string;
}

/** One key's state as the engine holds it, for channels that mirror state rather than messages (Alertmanager). */
export interface AlertState {
  key: AlertKey;
  label: string;
  severity: AlertSeverity;
  /** Epoch ms the alert left ok; null while ok. */
  since: number | null;
  message: string;
  clusterWide: boolean;
}
