/*
 * The one place the dashboard learns the server's JSON shapes. Every module of the page imports its types from
 * here, so when the server renames a field or moves a type, `npm run check` fails on the page's use of it, and a
 * moved declaration means editing this file only.
 */
export type { MetricsSnapshot } from '../../metrics.service';
export type { AlertsResponse } from '../../../alerts/alerts.controller';
export type { ActiveAlert } from '../../../alerts/alert.types';
export type { ClusterView, InstanceHeartbeat } from '../../../cluster/cluster.service';
export type { MetricsHistoryResponse } from '../../../history/history.service';
export type { HistoryRange, MetricHistoryPoint } from '../../../history/history.types';
