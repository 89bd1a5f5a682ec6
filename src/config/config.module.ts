import { Global, Module } from '@nestjs/common';
import { AppConfig } from './app-config';
import { loadEnvOrExit } from './load-env';

/**
 * The one parse of the environment the app makes (instrument.ts reads it once more, for Sentry, before any module
 * is loaded). An invalid environment ends the process here, with one line naming every failing variable, before
 * anything listens. Tests provide their own AppConfig instead.
 */
@Global()
@Module({
  providers: [{ provide: AppConfig, useFactory: () => new AppConfig(loadEnvOrExit(process.env)) }],
  exports: [AppConfig],
})
export class ConfigModule {}
