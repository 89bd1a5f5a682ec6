// Error tracking starts here, before any other module is loaded, so that http, express, ioredis and the rest
// are instrumented. A no-op without SENTRY_DSN. It cannot use Nest's DI: it reads the environment through the
// same schema, and leaves reporting an invalid one to main.ts.
import { startSentryFromEnvironment } from './error-tracking/sentry';

startSentryFromEnvironment(process.env);
