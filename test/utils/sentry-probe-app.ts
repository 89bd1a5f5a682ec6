// A real server process for the Sentry e2e test: instrument.ts first (as main.ts does), the real AppModule and
// configureApp, plus a probe controller whose routes fail in known ways. Sentry.init is global to a process,
// hence a child process. Run with: node -r @swc-node/register test/utils/sentry-probe-app.ts
import '../../src/instrument';
import { BadRequestException, Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import * as Sentry from '@sentry/nestjs';
import { AppModule } from '../../src/app.module';
import { APP_OPTIONS, configureApp } from '../../src/app.setup';
import { installProcessGuards } from '../../src/lifecycle/process-guards';
import { RealtimeMetrics } from '../../src/realtime/realtime.metrics';
import { postJson } from '../../src/alerts/notifiers/webhook-client';

@Controller('probe')
class ProbeController {
  @Get('boom/:id')
  boom(): never {
    throw new Error('probe route failure');
  }

  @Get('bad')
  bad(): never {
    throw new BadRequestException('probe bad input');
  }

  /** Calls the Slack webhook the way the notifier does, then fails: the error event carries the call's breadcrumb. */
  @Get('webhook-then-boom')
  async webhookThenBoom(): Promise<never> {
    const url = process.env.SLACK_WEBHOOK ?? '';
    await postJson(url, { text: 'probe' }, AbortSignal.timeout(2000), performance.now() + 2000);
    throw new Error('probe failure after a webhook call');
  }

  @Get('reject')
  reject(): { ok: true } {
    void Promise.reject(new Error('probe unhandled rejection'));
    return { ok: true };
  }
}

@Module({ imports: [AppModule], controllers: [ProbeController] })
class ProbeAppModule {}

async function main(): Promise<void> {
  installProcessGuards();
  const app = await NestFactory.create(ProbeAppModule, APP_OPTIONS);
  await configureApp(app);
  // A bug inside a socket handler: subscribing records a metric, which now throws.
  app.get(RealtimeMetrics).recordSubscription = () => {
    throw new Error('probe socket handler failure');
  };
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  process.stdout.write(JSON.stringify({ message: 'probe listening', url }) + '\n');
  process.once('SIGTERM', () => {
    void app
      .close()
      .then(() => Sentry.close(2000))
      .finally(() => process.exit(0));
  });
}

void main();
