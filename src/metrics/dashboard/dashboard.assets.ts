import { Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface DashboardAsset {
  body: Buffer;
  contentType: string;
}

/** Chart.js's UMD build from the app's own node_modules (its package exports hide dist/, so resolve the main entry). */
export function chartJsPath(): string {
  return join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
}

/**
 * The dashboard's files: a fixed table from name to file, read once on first use. The page lives in
 * static/ next to this file (copied to dist/ by nest-cli.json's assets entry).
 */
@Injectable()
export class DashboardAssets {
  private readonly files: Record<string, { path: string; contentType: string }> = {
    'index.html': { path: join(__dirname, 'static', 'index.html'), contentType: 'text/html; charset=utf-8' },
    'dashboard.js': {
      path: join(__dirname, 'static', 'dashboard.js'),
      contentType: 'text/javascript; charset=utf-8',
    },
    'dashboard.css': {
      path: join(__dirname, 'static', 'dashboard.css'),
      contentType: 'text/css; charset=utf-8',
    },
    'chart.umd.min.js': { path: chartJsPath(), contentType: 'text/javascript; charset=utf-8' },
  };
  private readonly cache = new Map<string, DashboardAsset>();

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.files, name);
  }

  get(name: string): DashboardAsset {
    let asset = this.cache.get(name);
    if (asset === undefined) {
      const file = this.files[name];
      asset = { body: readFileSync(file.path), contentType: file.contentType };
      this.cache.set(name, asset);
    }
    return asset;
  }
}
