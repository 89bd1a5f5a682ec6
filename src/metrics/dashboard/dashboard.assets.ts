import { Injectable } from '@nestjs/common';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

export interface DashboardAsset {
  body: Buffer;
  contentType: string;
}

/** Chart.js's UMD build from the app's own node_modules (its package exports hide dist/, so resolve the main entry). */
export function chartJsPath(): string {
  return join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
}

const STATIC_DIR = join(__dirname, 'static');

/** What the browser may fetch from static/, by extension. Type declarations and the tsconfig stay private. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** static/'s servable files (page, modules, stylesheet), listed once: a name is served only if it is listed here. */
function staticFiles(): Record<string, { path: string; contentType: string }> {
  const files: Record<string, { path: string; contentType: string }> = {};
  for (const name of readdirSync(STATIC_DIR)) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType !== undefined && !name.endsWith('.d.ts'))
      files[name] = { path: join(STATIC_DIR, name), contentType };
  }
  return files;
}

/**
 * The dashboard's files: a fixed table from name to file, built at start-up from static/ next to this file
 * (copied to dist/ by nest-cli.json's assets entry) plus Chart.js, and read once on first use. Requests are
 * looked up in the table; no path is ever built from a request.
 */
@Injectable()
export class DashboardAssets {
  private readonly files: Record<string, { path: string; contentType: string }> = {
    ...staticFiles(),
    'chart.umd.min.js': { path: chartJsPath(), contentType: CONTENT_TYPES['.js'] },
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
