import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { ClusterModule } from '../cluster/cluster.module';
import { HistoryModule } from '../history/history.module';
import { MetricsModule } from '../metrics/metrics.module';
import { AlertDelivery } from './alert-delivery';
import { AlertDispatcher } from './alert-dispatcher';
import { AlertEngine } from './alert-engine';
import { AlertHistory } from './alert-history';
import { AlertScheduler } from './alert-scheduler';
import { AlertsController } from './alerts.controller';
import { AlertsMetrics } from './alerts.metrics';
import { Clock } from './clock';
import { ClusterLock } from './cluster-lock';
import { CpuMonitor } from './monitors/cpu.monitor';
import { DeliveryMonitor } from './monitors/delivery.monitor';
import { MemoryMonitor } from './monitors/memory.monitor';
import { ALERT_MONITORS } from './monitors/monitor.tokens';
import { RedisMonitor } from './monitors/redis.monitor';
import { TrafficMonitor } from './monitors/traffic.monitor';
import { DiscordNotifier } from './notifiers/discord.notifier';
import { EmailNotifier } from './notifiers/email.notifier';
import { ALERT_NOTIFIERS } from './notifiers/notifier';
import { AlertmanagerNotifier } from './notifiers/alertmanager.notifier';
import { PagerDutyNotifier } from './notifiers/pagerduty.notifier';
import { SignedWebhookNotifier } from './notifiers/signed-webhook.notifier';
import { SlackNotifier } from './notifiers/slack.notifier';

@Module({
  imports: [ScheduleModule.forRoot(), MetricsModule, HistoryModule, ClusterModule],
  controllers: [AlertsController],
  providers: [
    Clock,
    ClusterLock,
    AlertHistory,
    AlertEngine,
    AlertDelivery,
    AlertDispatcher,
    AlertsMetrics,
    AlertScheduler,
    RedisMonitor,
    MemoryMonitor,
    CpuMonitor,
    TrafficMonitor,
    DeliveryMonitor,
    {
      provide: ALERT_MONITORS,
      useFactory: (...monitors: unknown[]) => monitors,
      inject: [RedisMonitor, MemoryMonitor, CpuMonitor, TrafficMonitor, DeliveryMonitor],
    },
    SlackNotifier,
    DiscordNotifier,
    EmailNotifier,
    PagerDutyNotifier,
    SignedWebhookNotifier,
    AlertmanagerNotifier,
    {
      provide: ALERT_NOTIFIERS,
      useFactory: (...notifiers: unknown[]) => notifiers,
      inject: [SlackNotifier, DiscordNotifier, EmailNotifier, PagerDutyNotifier, SignedWebhookNotifier],
    },
  ],
  exports: [AlertEngine, AlertHistory],
})
export class AlertsModule {}
