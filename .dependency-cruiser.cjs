// The one place the allowed import directions between src/ folders are written down, checked by `npm run lint`
// (CI) and drawn by `npm run docs:graph` into docs/architecture.md.
//
// Layers, bottom up: each folder may import from the folders listed for it (and from itself), nothing else in
// src/. Infrastructure first, then the metrics core, then the features, then the composition root (src/*.ts,
// which may import anything and which nothing imports).
const LAYERS = {
  // Infrastructure every module may use.
  common: [],
  config: ['common'],
  logging: ['config', 'common'],
  lifecycle: ['config', 'common'],
  redis: ['config', 'common', 'logging', 'lifecycle'],
  database: ['config', 'common', 'logging', 'lifecycle'],
  // Reports errors to the error tracker: used by features (the gateway's exception filter) and the process
  // guards, and needs nothing above logging, so it is infrastructure, above logging and lifecycle.
  'error-tracking': ['config', 'common', 'logging', 'lifecycle'],
  // The metrics core: registry, windows, hot instruments, snapshot assembly. A leaf over infrastructure: it
  // imports no feature and no dependency client (features own their instruments and contribute to the snapshot).
  metrics: ['config', 'common', 'logging', 'lifecycle'],
};
const INFRA = ['config', 'common', 'logging', 'lifecycle', 'redis', 'database', 'error-tracking'];
Object.assign(LAYERS, {
  // Features: infrastructure and the metrics core, plus the peer features named here (never the other way).
  // Stream positions, history and idempotency; knows nothing of Socket.IO.
  streams: [...INFRA, 'metrics'],
  // Realtime delivers what streams records, and replays what it returns.
  realtime: [...INFRA, 'metrics', 'streams'],
  health: [...INFRA, 'metrics'],
  history: [...INFRA, 'metrics'],
  // Cluster reads this instance's connection counts (realtime's ConnectionCounts).
  cluster: [...INFRA, 'metrics', 'realtime'],
  // Alerts keep their history in history's stores, and watch cross-replica delivery through cluster's probes.
  alerts: [...INFRA, 'metrics', 'history', 'cluster'],
});

const folders = Object.keys(LAYERS);
const alt = (names) => names.map((n) => n.replace(/[-]/g, '\\-')).join('|');

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles, between folders or inside one.',
      from: {},
      to: { circular: true },
    },
    ...folders.map((name) => ({
      name: `layer-${name}`,
      severity: 'error',
      comment: `src/${name} may import only ${LAYERS[name].length ? LAYERS[name].join(', ') : 'nothing else in src'} (see LAYERS in .dependency-cruiser.cjs).`,
      from: { path: `^src/${name}/` },
      to: { path: '^src/', pathNot: `^src/(${alt([name, ...LAYERS[name]])})/` },
    })),
    {
      name: 'folder-without-layer',
      severity: 'error',
      comment: 'Every folder of src/ has its place in LAYERS (.dependency-cruiser.cjs).',
      from: { path: '^src/[^/]+/', pathNot: `^src/(${alt(folders)})/` },
      to: {},
    },
    {
      name: 'no-test-code-in-src',
      severity: 'error',
      comment:
        'Nothing in src/ that ships in dist/ imports test code (specs beside the code may use test/fixtures).',
      from: { path: '^src/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve is a broken build waiting to happen.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/metrics/dashboard/static/' },
    // Type-only imports count too: a cycle through types is still a cycle in the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
    reporterOptions: {
      mermaid: { minify: false },
    },
  },
};
