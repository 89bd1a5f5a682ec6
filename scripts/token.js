#!/usr/bin/env node
// Prints a signed access token for local testing: npm run token -- <userId> [portfolioId...] [--expires-in 1h]
// Signs with JWT_SECRET when set, else with the server's fixed development secret (the server accepts that one
// only outside production). Works from the built dist/ or, without a build, from the TypeScript sources.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const jwt = require('jsonwebtoken');

const root = join(__dirname, '..');

function developmentSecret() {
  const built = join(root, 'dist', 'config', 'app-config.js');
  if (existsSync(built)) return require(built).DEVELOPMENT_JWT_SECRET;
  require('@swc-node/register');
  return require(join(root, 'src', 'config', 'app-config.ts')).DEVELOPMENT_JWT_SECRET;
}

function usage(message) {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write('usage: npm run token -- <userId> [portfolioId...] [--expires-in <1h|30m|3600>]\n');
  process.exit(2);
}

const args = process.argv.slice(2);
let expiresIn = '1h';
const positional = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--help' || a === '-h') usage();
  else if (a === '--expires-in') expiresIn = args[++i] ?? usage('--expires-in needs a value');
  else if (a.startsWith('--expires-in=')) expiresIn = a.slice('--expires-in='.length);
  else if (a.startsWith('--')) usage(`unknown option ${a}`);
  else positional.push(a);
}
const [userId, ...portfolios] = positional;
if (!userId) usage('a user id is required');
for (const p of portfolios) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(p))
    usage(`portfolio id "${p}" must be 1-64 characters of letters, digits, _ or -`);
}
if (/^\d+$/.test(expiresIn)) expiresIn = Number(expiresIn);

let secret = process.env.JWT_SECRET && process.env.JWT_SECRET.trim();
if (!secret) {
  secret = developmentSecret();
  process.stderr.write(
    'JWT_SECRET is not set: signing with the development secret (accepted only outside production)\n',
  );
}

const claims = portfolios.length > 0 ? { portfolios } : {};
process.stdout.write(jwt.sign(claims, secret, { algorithm: 'HS256', subject: userId, expiresIn }) + '\n');
