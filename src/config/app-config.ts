import { Injectable } from '@nestjs/common';
import { createSecretKey, KeyObject } from 'node:crypto';
import { Env, parseEnv } from './env.schema';

/**
 * The validated, typed configuration. Built once from the process environment when the app is created;
 * tests build their own with AppConfig.from({...}) and override the provider.
 */
@Injectable()
export class AppConfig {
  constructor(readonly env: Env) {}

  static from(source: Record<string, string | undefined>): AppConfig {
    return new AppConfig(parseEnv(source));
  }

  get isProduction(): boolean {
    return this.env.NODE_ENV === 'production';
  }

  /** True when JWT_SECRET was not given and the fixed development secret is in use. */
  get usingDevelopmentJwtSecret(): boolean {
    return this.env.JWT_SECRET === undefined;
  }

  get jwtSecret(): string {
    return this.env.JWT_SECRET ?? DEVELOPMENT_JWT_SECRET;
  }

  /** The HS256 key, built once (verifying with a KeyObject is ~35× faster than with the string). */
  get jwtKey(): KeyObject {
    this.key ??= createSecretKey(Buffer.from(this.jwtSecret, 'utf8'));
    return this.key;
  }

  private key: KeyObject | undefined;
}

/** Used only outside production when JWT_SECRET is unset; the schema refuses to start production without one. */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-do-not-use-in-production';
