import { Controller, Get, HttpStatus, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { MetricsAuthGuard } from './metrics-auth.guard';
import { METRICS_DISABLED, MetricsService } from './metrics.service';

/** What a Prometheus scrape asks for (2.42: `application/openmetrics-text;…,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`). */
const EXPOSITION_TYPES = ['text/plain', 'application/openmetrics-text'];

/**
 * GET /metrics: the JSON figures (the seed's shape), or the Prometheus exposition when the Accept header prefers
 * text/plain or OpenMetrics, so a default scrape config pointed at /metrics works. GET /metrics/prometheus is
 * always the exposition. Both behind METRICS_TOKEN when it is set.
 */
@Controller('metrics')
@UseGuards(MetricsAuthGuard)
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  async metricsEndpoint(@Req() req: Request, @Res() res: Response): Promise<void> {
    res.setHeader('Vary', 'Accept');
    if (!this.metrics.enabled) return this.sendDisabled(res);
    if (prefersExposition(req)) return this.sendExposition(res);
    res.setHeader('Cache-Control', 'no-store');
    const notReady = this.metrics.notReadyReason();
    if (notReady !== null) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE).json({ error: notReady });
      return;
    }
    res.json(this.metrics.currentSnapshot());
  }

  @Get('prometheus')
  prometheus(@Res() res: Response): Promise<void> {
    if (!this.metrics.enabled) return Promise.resolve(this.sendDisabled(res));
    return this.sendExposition(res);
  }

  private sendDisabled(res: Response): void {
    res.status(HttpStatus.SERVICE_UNAVAILABLE).json({ error: METRICS_DISABLED });
  }

  private async sendExposition(res: Response): Promise<void> {
    const body = await this.metrics.exposition();
    res.setHeader('Content-Type', this.metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    // A Buffer keeps prom-client's Content-Type exactly as given (Express rewrites it for strings).
    res.send(Buffer.from(body, 'utf8'));
  }
}

/**
 * True when the client ranks text/plain or OpenMetrics above JSON; ties (absent Accept, `*\/*`, a browser's list)
 * go to JSON. Parsed by hand: Express's negotiator refuses a range whose parameters (Prometheus sends
 * `;version=1.0.0`) the offered type lacks, and would then fall back to `*\/*;q=0.1` and answer JSON.
 */
export function prefersExposition(req: Request): boolean {
  const header = req.headers.accept;
  if (header === undefined || header.trim() === '') return false;
  const ranges = parseAccept(header);
  const exposition = Math.max(...EXPOSITION_TYPES.map((t) => qualityOf(t, ranges)));
  return exposition > qualityOf('application/json', ranges);
}

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(header: string): MediaRange[] {
  const out: MediaRange[] = [];
  for (const part of header.split(',').slice(0, 50)) {
    const [range, ...params] = part.split(';');
    const [type, subtype] = range.trim().toLowerCase().split('/');
    if (!type || !subtype) continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=').map((x) => x.trim());
      if (k.toLowerCase() === 'q') q = Number(v);
    }
    if (Number.isFinite(q) && q >= 0 && q <= 1) out.push({ type, subtype, q });
  }
  return out;
}

/** The quality of the most specific range matching `mediaType` (exact beats `type/*` beats `*\/*`), 0 if none. */
function qualityOf(mediaType: string, ranges: MediaRange[]): number {
  const [type, subtype] = mediaType.split('/');
  let best = -1;
  let q = 0;
  for (const r of ranges) {
    let specificity = -1;
    if (r.type === type && r.subtype === subtype) specificity = 2;
    else if (r.type === type && r.subtype === '*') specificity = 1;
    else if (r.type === '*' && r.subtype === '*') specificity = 0;
    if (specificity < 0 || specificity < best) continue;
    q = specificity > best ? r.q : Math.max(q, r.q);
    best = specificity;
  }
  return q;
}
