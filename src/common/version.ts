import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package version, read once. src/common and dist/common both sit two levels below package.json. */
export const APP_VERSION: string = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;
