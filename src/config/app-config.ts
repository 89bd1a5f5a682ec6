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

  /** What a client access token must satisfy besides its HS256 signature; built once, read on every handshake. */
  get jwt(): JwtPolicy {
    this.policy ??= {
      key: this.jwtKey,
      maxAgeSeconds: this.env.JWT_MAX_TOKEN_AGE,
      audience: this.env.JWT_AUDIENCE,
      issuer: this.env.JWT_ISSUER,
    };
    return this.policy;
  }

  private key: KeyObject | undefined;
  private policy: JwtPolicy | undefined;
}

export interface JwtPolicy {
  key: KeyObject;
  /** Longest accepted lifetime, in seconds: `exp - iat`, or `exp - now` for a token without `iat`. */
  maxAgeSeconds: number;
  /** When set, `aud` must be this value or a list containing it. */
  audience: string | undefined;
  /** When set, `iss` must be exactly this value. */
  issuer: string | undefined;
}

/** Used only outside production when JWT_SECRET is unset; the schema refuses to start production without one. */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-do-not-use-in-production';
