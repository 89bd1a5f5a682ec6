import { Injectable } from '@nestjs/common';

/** The alerts' only source of time, so tests can drive hours of alert lifecycle without waiting. */
@Injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}
