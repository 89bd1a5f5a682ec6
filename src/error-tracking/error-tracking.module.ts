import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ErrorReporter } from './error-reporter';
import { ReportingExceptionFilter } from './http-exception.filter';

@Module({
  providers: [ErrorReporter, { provide: APP_FILTER, useClass: ReportingExceptionFilter }],
  exports: [ErrorReporter],
})
export class ErrorTrackingModule {}
