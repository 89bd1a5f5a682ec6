#!/usr/bin/env node
// Prints a signed access token for local testing: npm run token -- <userId> [portfolioId...] [--expires-in 1h]
// Signs with JWT_SECRET when set, else with the server's fixed development secret (the server accepts that one
// only outside production). Adds aud and iss from JWT_AUDIENCE and JWT_ISSUER when set, and refuses a lifetime
// over JWT_MAX_TOKEN_AGE, so the token passes the server's checks for the same environment. Reads those rules
// from the TypeScript sources (a dist/ built before a change to them would mint by the old rules), or from
// the built dist/ when the sources cannot be loaded.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const jwt = require('jsonwebtoken');

const root = join(__dirname, '..');

function serverModule(name) {
  const source = join(root, 'src', `${name}.ts`);
  if (existsSync(source)) {
    try {
      require('@swc-node/register');
      return require(source);
    } catch {
      // no dev dependencies installed: fall back to the build
    }
  }
  return require(join(root, 'dist', `${name}.js`));
}

/** Like the server's schema: empty means unset. */
function envValue(name) {
  const v = process.env[name] && process.env[name].trim();
  return v ? v : undefined;
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

const { parseDurationSeconds } = serverModule('config/env.schema');
const maxAgeText = envValue('JWT_MAX_TOKEN_AGE') ?? '1d';
const maxAge = parseDurationSeconds(maxAgeText);
if (maxAge === null) usage(`JWT_MAX_TOKEN_AGE must be a whole number with a unit: s, m, h or d (e.g. 12h)`);

let secret = envValue('JWT_SECRET');
if (!secret) {
  secret = serverModule('config/app-config').DEVELOPMENT_JWT_SECRET;
  process.stderr.write(
    'JWT_SECRET is not set: signing with the development secret (accepted only outside production)\n',
  );
}

const claims = portfolios.length > 0 ? { portfolios } : {};
const options = { algorithm: 'HS256', subject: userId, expiresIn };
if (envValue('JWT_AUDIENCE')) options.audience = envValue('JWT_AUDIENCE');
if (envValue('JWT_ISSUER')) options.issuer = envValue('JWT_ISSUER');
let token;
try {
  token = jwt.sign(claims, secret, options);
} catch (err) {
  usage(`--expires-in: ${err.message}`);
}
const { iat, exp } = jwt.decode(token);
if (exp - iat > maxAge) {
  usage(
    `--expires-in ${expiresIn} is longer than JWT_MAX_TOKEN_AGE (${maxAgeText}): the server would refuse it`,
  );
}
process.stdout.write(token + '\n');
