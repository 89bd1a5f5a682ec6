export const ALERT_MONITORS = Symbol('ALERT_MONITORS');
