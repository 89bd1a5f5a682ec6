import { Injectable } from '@nestjs/common';
import { hostname } from 'node:os';
import { AppConfig } from '../config/app-config';
import { APP_VERSION } from '../common/version';

/** Who this process is among the replicas: RAILWAY_REPLICA_ID when the platform gives one, else hostname:pid. */
@Injectable()
export class InstanceInfo {
  readonly id: string;
  readonly hostname = hostname();
  readonly version = APP_VERSION;
  readonly startedAt = new Date();

  constructor(config: AppConfig) {
    this.id = config.env.RAILWAY_REPLICA_ID ?? `${this.hostname}:${process.pid}`;
  }
}
