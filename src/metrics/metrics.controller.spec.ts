import type { Request } from 'express';
import { prefersExposition } from './metrics.controller';

const withAccept = (accept: string | undefined) =>
  ({ headers: accept === undefined ? {} : { accept } }) as Request;

describe('prefersExposition', () => {
  it.each([
    // The Accept header Prometheus 2.42 sends when it scrapes (PROMETHEUS_ACCEPT in test/utils/metrics-helpers.ts,
    // which test/metrics.e2e-spec.ts sends to the real app): OpenMetrics first, text/plain at 0.5, anything at 0.1.
    [
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      true,
    ],
    ['text/plain;version=0.0.4;q=0.5,*/*;q=0.1', true],
    ['text/plain', true],
    ['application/openmetrics-text', true],
    ['text/*', true],
    ['application/json;q=0.4, text/plain;q=0.5', true],
  ])('%s → exposition', (accept, expected) => {
    expect(prefersExposition(withAccept(accept))).toBe(expected);
  });

  it.each([
    [undefined],
    [''],
    ['*/*'],
    ['application/json'],
    ['application/json, text/plain, */*'], // axios' default: a tie goes to JSON
    ['text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'],
    ['text/plain;q=0, */*'],
    ['text/plain;q=0.5, application/*'],
    ['garbage;;;,,,/'],
  ])('%s → JSON', (accept) => {
    expect(prefersExposition(withAccept(accept))).toBe(false);
  });
});
