import './instrument';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { APP_OPTIONS, configureApp } from './app.setup';
import { AppConfig } from './config/app-config';
import { installShutdownHandlers } from './lifecycle/graceful-shutdown';
import { installProcessGuards } from './lifecycle/process-guards';
import { logDevelopmentHints } from './metrics/dashboard/dashboard.start-hint';

async function bootstrap(): Promise<void> {
  installProcessGuards();
  const app = await NestFactory.create<NestExpressApplication>(AppModule, APP_OPTIONS);
  const env = app.get(AppConfig).env;
  await configureApp(app);
  installShutdownHandlers(app);
  await app.listen(env.PORT, env.HOST);
  await logDevelopmentHints(app, env);
}

bootstrap().catch((err: unknown) => {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stdout.write(
    JSON.stringify({
      level: 'fatal',
      timestamp: new Date().toISOString(),
      message: 'Start-up failed',
      error: e.message,
      stack: e.stack,
    }) + '\n',
  );
  process.exit(1);
});
