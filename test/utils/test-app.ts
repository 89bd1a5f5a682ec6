import { INestApplication, Type } from '@nestjs/common';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../../src/app.module';
import { APP_OPTIONS, configureApp } from '../../src/app.setup';
import { AppConfig } from '../../src/config/app-config';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-production-0123';

/** The environment every test app starts from: test mode, quiet logs, no optional dependency. */
export const BASE_TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
  JWT_SECRET: TEST_JWT_SECRET,
  HOST: '127.0.0.1',
};

export interface TestApp {
  app: NestExpressApplication;
  url: string;
  config: AppConfig;
  close(): Promise<void>;
}

/**
 * Boots the real AppModule with configureApp() (the same as main.ts) on a free port. `env` is layered over
 * BASE_TEST_ENV; nothing reads the test process's own environment. `customize` may override providers;
 * `extraModules` are booted beside AppModule (test-only routes).
 */
export async function createTestApp(
  env: Record<string, string | undefined> = {},
  customize?: (builder: TestingModuleBuilder) => TestingModuleBuilder,
  extraModules: Type[] = [],
): Promise<TestApp> {
  const config = AppConfig.from({ ...BASE_TEST_ENV, ...env });
  let builder = Test.createTestingModule({ imports: [AppModule, ...extraModules] })
    .overrideProvider(AppConfig)
    .useValue(config);
  if (customize) builder = customize(builder);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>(APP_OPTIONS);
  await configureApp(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  let closed = false;
  return {
    app,
    url,
    config,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

export type { INestApplication };
