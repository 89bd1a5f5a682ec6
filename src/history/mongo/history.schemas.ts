import { Schema } from 'mongoose';
import { AlertTransition, METRIC_FIELDS, MetricSnapshotRecord } from '../history.types';

export const METRIC_SNAPSHOTS_COLLECTION = 'metric_snapshots';
export const ALERT_TRANSITIONS_COLLECTION = 'alert_transitions';
export const METRIC_SNAPSHOT_MODEL = 'MetricSnapshot';
export const ALERT_TRANSITION_MODEL = 'AlertTransition';

// Collections and indexes are created by MongoHistoryCollections (time-series with a fallback, TTL indexes),
// never implicitly by Mongoose; commands fail at once while disconnected instead of queueing.
const schemaOptions = {
  versionKey: false,
  autoIndex: false,
  autoCreate: false,
  bufferCommands: false,
} as const;

const metricFields = Object.fromEntries(METRIC_FIELDS.map((f) => [f, { type: Number, required: true }]));

export const metricSnapshotSchema = new Schema<MetricSnapshotRecord>(
  {
    timestamp: { type: Date, required: true },
    instanceId: { type: String, required: true },
    ...metricFields,
    // Absent in snapshots written before deploy markers existed.
    version: { type: String, required: false },
    startedAt: { type: Date, required: false },
  },
  { ...schemaOptions, collection: METRIC_SNAPSHOTS_COLLECTION },
);

export const alertTransitionSchema = new Schema<AlertTransition>(
  {
    key: { type: String, required: true },
    from: { type: String, required: true },
    to: { type: String, required: true },
    message: { type: String, required: true },
    value: { type: Number, default: null },
    threshold: { type: Number, default: null },
    timestamp: { type: Date, required: true },
    instanceId: { type: String, required: true },
  },
  { ...schemaOptions, collection: ALERT_TRANSITIONS_COLLECTION },
);
