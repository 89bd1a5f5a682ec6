import { Global, Module } from '@nestjs/common';
import { InstanceInfo } from './instance-info';
import { ShutdownState } from './shutdown-state';

@Global()
@Module({ providers: [ShutdownState, InstanceInfo], exports: [ShutdownState, InstanceInfo] })
export class LifecycleModule {}
