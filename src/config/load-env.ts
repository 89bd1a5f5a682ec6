import { ConfigValidationError, Env, parseEnv } from './env.schema';

/**
 * Validates the environment before anything starts. On failure prints one JSON log line naming every failing
 * variable and why (never a value) and exits non-zero, before the server listens.
 */
export function loadEnvOrExit(source: Record<string, string | undefined> = process.env): Env {
  try {
    return parseEnv(source);
  } catch (err) {
    if (!(err instanceof ConfigValidationError)) throw err;
    process.stdout.write(
      JSON.stringify({
        level: 'fatal',
        timestamp: new Date().toISOString(),
        message: err.message,
        errors: err.problems,
      }) + '\n',
    );
    process.exit(1);
  }
}
