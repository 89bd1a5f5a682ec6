import { Global, Module } from '@nestjs/common';
import { InstanceInfo } from './instance-info';
import { ShutdownState } from './shutdown-state';

/**
 * Global, like config: this instance's identity and whether it is draining are process-wide facts that
 * infrastructure below the features reads too (Redis, error tracking) as well as health, realtime, cluster and
 * alerts; they hold no state of any feature and reach nothing outside the process.
 */
@Global()
@Module({ providers: [ShutdownState, InstanceInfo], exports: [ShutdownState, InstanceInfo] })
export class LifecycleModule {}
