import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { InstanceInfo } from '../../lifecycle/instance-info';
import { runbookUrl } from '../alert-keys';
import type { AlertNotification } from '../alert.types';
import { WebhookNotifier } from './webhook-client';

/** PagerDuty's limits: a summary over 1024 characters or a dedup_key over 255 is refused (HTTP 400). */
const MAX_SUMMARY = 1024;
const MAX_DEDUP_KEY = 255;

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'warning';
    timestamp: string;
    component: string;
    group: string;
    class: string;
    custom_details: Record<string, string | boolean>;
  };
  links?: Array<{ href: string; text: string }>;
}

/**
 * PagerDuty Events API v2 (PAGERDUTY_ROUTING_KEY, PAGERDUTY_EVENTS_URL): firing, escalation and reminders trigger,
 * resolution resolves, all under one dedup_key per incident, so PagerDuty keeps one incident per alert however
 * often it is triggered. The key is `<service>/<alert key>`, plus `/<instance>` for an alert about one replica:
 * without it one replica's recovery would resolve another's still-open incident. A cluster-wide alert is sent
 * by one replica only (AlertDelivery's Redis lock), so the cluster raises one trigger per incident.
 */
@Injectable()
export class PagerDutyNotifier extends WebhookNotifier {
  readonly channel = 'pagerduty' as const;

  constructor(
    config: AppConfig,
    private readonly instance: InstanceInfo,
  ) {
    super(config);
  }

  static event(
    n: AlertNotification,
    routingKey: string,
    service: string,
    instance: string,
    runbook: string,
  ): PagerDutyEvent {
    const dedupKey = (n.clusterWide ? `${service}/${n.key}` : `${service}/${n.key}/${instance}`).slice(
      0,
      MAX_DEDUP_KEY,
    );
    if (n.kind === 'resolved')
      return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
    return {
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key: dedupKey,
      payload: {
        summary: n.text.slice(0, MAX_SUMMARY),
        source: n.clusterWide ? service : instance,
        severity: n.level === 'critical' ? 'critical' : 'warning',
        timestamp: new Date(n.timestamp).toISOString(),
        component: service,
        group: n.key.split('.')[0],
        class: n.key,
        custom_details: { kind: n.kind, title: n.title, instance, cluster_wide: n.clusterWide },
      },
      links: [{ href: runbook, text: 'Runbook' }],
    };
  }

  protected url(): string | undefined {
    return this.config.env.PAGERDUTY_ROUTING_KEY === undefined
      ? undefined
      : this.config.env.PAGERDUTY_EVENTS_URL;
  }

  protected body(n: AlertNotification): PagerDutyEvent {
    const env = this.config.env;
    return PagerDutyNotifier.event(
      n,
      env.PAGERDUTY_ROUTING_KEY ?? '',
      env.SERVICE_NAME,
      this.instance.id,
      runbookUrl(env.ALERT_RUNBOOK_BASE_URL, n.key),
    );
  }
}
