import { dirname } from 'node:path';
import * as Sentry from '@sentry/nestjs';
import type { Integration } from '@sentry/core';
import { APP_VERSION } from '../common/version';
import { Env, parseEnv } from '../config/env.schema';

/**
 * Sentry's own process handlers change behaviour: its unhandled-rejection handler warns on stderr (and in
 * 'strict' mode exits), its uncaught-exception handler exits. The process guards (lifecycle/process-guards.ts)
 * own both events, log them and keep the process alive, with or without Sentry; ErrorReporter reports them.
 */
const PROCESS_HANDLER_INTEGRATIONS = new Set(['OnUncaughtException', 'OnUnhandledRejection']);

export interface SentryStartResult {
  enabled: boolean;
  profiling: boolean;
  /** Why profiling is off, when it is. */
  profilingUnavailable?: string;
}

/** What `@sentry/node-cpu-profiler` exports that tells whether its native module loaded. */
export interface NativeProfiler {
  /** The native module, or undefined when none matched this platform and Node ABI. */
  PrivateCpuProfilerBindings?: { startProfiling?: unknown };
  CpuProfilerBindings: {
    startProfiling(name: string): void;
    stopProfiling(
      name: string,
      format: 0,
    ): { samples: unknown[]; frames: Array<{ function: string }> } | null;
  };
}

/** The copy of `@sentry/node-cpu-profiler` that `@sentry/profiling-node` itself loads (it is its dependency). */
export function nativeProfiler(): NativeProfiler {
  const from = dirname(require.resolve('@sentry/profiling-node'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(require.resolve('@sentry/node-cpu-profiler', { paths: [from] })) as NativeProfiler;
}

/** First line of each thing printed, errors by their message: one line for the start-up log. */
function oneLine(args: unknown[]): string {
  return args.map((a) => (a instanceof Error ? a.message : String(a)).split('\n')[0]).join(' ');
}

/**
 * The profiling integration, or why it cannot be used on this Node. Its native module is prebuilt per platform
 * and Node ABI. When none matches, loading does not throw: the profiler prints the error to the console (several
 * lines, not JSON) and every profile is silently empty. So the native module is checked here, and what the
 * profiler prints while it loads is kept out of the log and becomes the reason in the one start-up line.
 */
export function loadProfilingIntegration(): { integration: Integration } | { error: string } {
  const printed: string[] = [];
  const { log, warn } = console;
  console.log = console.warn = (...args: unknown[]) => void printed.push(oneLine(args));
  try {
    type Profiling = typeof import('@sentry/profiling-node');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { nodeProfilingIntegration } = require('@sentry/profiling-node') as Profiling;
    if (typeof nativeProfiler().PrivateCpuProfilerBindings?.startProfiling !== 'function') {
      const detail = printed.join(' ') || 'no prebuilt binary matched';
      return { error: `native profiler does not load on Node ${process.version}: ${detail}` };
    }
    return { integration: nodeProfilingIntegration() };
  } catch (err) {
    return { error: oneLine([err]) };
  } finally {
    console.log = log;
    console.warn = warn;
  }
}

/** URLs that are secrets in themselves (their path is the credential), and the alert channels' keys. */
function secretUrls(env: Env): string[] {
  return [
    env.SLACK_WEBHOOK,
    env.DISCORD_WEBHOOK,
    env.ALERT_WEBHOOK_URL,
    env.ALERTMANAGER_URL,
    env.PAGERDUTY_ROUTING_KEY,
    env.ALERT_WEBHOOK_SECRET,
  ].filter((u): u is string => u !== undefined);
}

/** `https://hooks.slack.com/services/T/B/x` → `https://hooks.slack.com/[REDACTED]`. */
function redactedForm(url: string): string {
  try {
    return `${new URL(url).origin}/[REDACTED]`;
  } catch {
    return '[REDACTED]';
  }
}

/**
 * Replaces every occurrence of a secret URL (and of its path alone, as spans record it) in strings anywhere in
 * `value`. Sentry's http and fetch instrumentation records outgoing requests, webhook calls included, as
 * breadcrumbs and spans with their full URL; without this the Slack/Discord webhook would be sent to Sentry.
 */
export function scrubSecrets<T>(value: T, secrets: string[], depth = 0): T {
  if (secrets.length === 0 || depth > 12) return value;
  if (typeof value === 'string') {
    let out: string = value;
    for (const secret of secrets) {
      if (out.includes(secret)) out = out.split(secret).join(redactedForm(secret));
      let path = '';
      try {
        path = new URL(secret).pathname;
      } catch {
        // not a URL: nothing more to look for
      }
      if (path.length > 1 && out.includes(path)) out = out.split(path).join('/[REDACTED]');
    }
    return out as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => scrubSecrets(v, secrets, depth + 1)) as T;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrubSecrets(v, secrets, depth + 1);
    return out as T;
  }
  return value;
}

export function sentryOptions(env: Env, profiling: Integration | null): Sentry.NodeOptions {
  const secrets = secretUrls(env);
  return {
    dsn: env.SENTRY_DSN,
    environment: env.NODE_ENV,
    release: APP_VERSION,
    serverName: env.RAILWAY_REPLICA_ID,
    tracesSampleRate: env.SENTRY_TRACES_SAMPLE_RATE,
    ...(profiling !== null
      ? { profileSessionSampleRate: env.SENTRY_PROFILES_SAMPLE_RATE, profileLifecycle: 'trace' as const }
      : {}),
    sendDefaultPii: false,
    beforeBreadcrumb: (breadcrumb) => scrubSecrets(breadcrumb, secrets),
    beforeSend: (event) => scrubSecrets(event, secrets),
    beforeSendTransaction: (event) => scrubSecrets(event, secrets),
    integrations: (defaults) => [
      ...defaults.filter((i) => !PROCESS_HANDLER_INTEGRATIONS.has(i.name)),
      ...(profiling !== null ? [profiling] : []),
    ],
  };
}

/** Initialises Sentry when SENTRY_DSN is set; otherwise does nothing at all. */
export function startSentry(env: Env): SentryStartResult {
  if (env.SENTRY_DSN === undefined) return { enabled: false, profiling: false };
  const profiling =
    env.SENTRY_PROFILES_SAMPLE_RATE > 0
      ? loadProfilingIntegration()
      : { error: 'SENTRY_PROFILES_SAMPLE_RATE is 0' };
  Sentry.init(sentryOptions(env, 'integration' in profiling ? profiling.integration : null));
  return 'integration' in profiling
    ? { enabled: true, profiling: true }
    : { enabled: true, profiling: false, profilingUnavailable: profiling.error };
}

/**
 * What instrument.ts runs before anything else is loaded: no Nest, no DI. An invalid environment is skipped
 * silently here; main.ts validates it again and reports every problem.
 */
export function startSentryFromEnvironment(source: Record<string, string | undefined>): SentryStartResult {
  let env: Env;
  try {
    env = parseEnv(source);
  } catch {
    return { enabled: false, profiling: false };
  }
  const result = startSentry(env);
  if (result.enabled) {
    process.stdout.write(
      JSON.stringify({
        // Profiling asked for but impossible here is worth a warning; a sample rate of 0 is a choice.
        level: !result.profiling && env.SENTRY_PROFILES_SAMPLE_RATE > 0 ? 'warn' : 'info',
        timestamp: new Date().toISOString(),
        service: env.SERVICE_NAME,
        message: 'Error tracking enabled',
        profiling: result.profiling,
        ...(result.profilingUnavailable !== undefined
          ? { profilingUnavailable: result.profilingUnavailable }
          : {}),
      }) + '\n',
    );
  }
  return result;
}

export function sentryActive(): boolean {
  return Sentry.getClient() !== undefined;
}
