import { Controller, Get, NotFoundException, Param, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { MetricsAuthGuard } from '../metrics-auth.guard';
import { DashboardAssets } from './dashboard.assets';

/**
 * The live dashboard, served by the app itself (no CDN: it works behind a firewall). The page and its assets sit
 * behind METRICS_TOKEN like /metrics; with basic auth the browser then sends the same credentials with the
 * page's own fetches.
 */
@Controller('dashboard')
@UseGuards(MetricsAuthGuard)
export class DashboardController {
  constructor(private readonly assets: DashboardAssets) {}

  @Get()
  page(@Res() res: Response): void {
    this.send(res, 'index.html');
  }

  @Get('static/:file')
  asset(@Param('file') file: string, @Res() res: Response): void {
    // Only the names in the asset table exist: no path is ever built from the request, so no traversal.
    if (!this.assets.has(file) || file === 'index.html') throw new NotFoundException();
    this.send(res, file);
  }

  private send(res: Response, name: string): void {
    const asset = this.assets.get(name);
    res.setHeader('Content-Type', asset.contentType);
    res.setHeader('Cache-Control', name === 'index.html' ? 'no-store' : 'private, max-age=300');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    res.send(asset.body);
  }
}
