import { Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { InstanceInfo } from '../lifecycle/instance-info';
import { SocketAdapterState } from '../realtime/socket-adapter-state';
import type { RedisService } from '../redis/redis.service';
import { ClusterProbes } from './cluster-probes';
import type { ClusterService, InstanceHeartbeat } from './cluster.service';

const INTERVAL = 1000;

/** ClusterProbes with a fake heartbeat view (the one injectable reaching Redis) and a private registry. */
function setup() {
  const config = AppConfig.from({
    NODE_ENV: 'test',
    CLUSTER_PROBE_INTERVAL_MS: String(INTERVAL),
    RAILWAY_REPLICA_ID: 'me',
  });
  const beats = new Map<string, number>();
  const cluster = {
    peers: () =>
      Promise.resolve(
        [...beats].map(([instanceId, at]) => ({ instanceId, at }) as unknown as InstanceHeartbeat),
      ),
  } as unknown as ClusterService;
  const redis = { isConfigured: true } as RedisService;
  const registry = new Registry();
  const probes = new ClusterProbes(
    config,
    redis,
    new InstanceInfo(config),
    new SocketAdapterState(),
    cluster,
    registry,
  );
  /** The peer writes a heartbeat now (by its clock, which here is ours). */
  const beat = (id: string) => beats.set(id, Date.now());
  const probeFrom = (id: string) => probes.receive({ from: id, sentAt: Date.now(), seq: 1 });
  const leave = (id: string) => beats.delete(id);
  /** Advances time in steps of a quarter interval; the peer beats and (unless muted) probes on schedule. */
  const run = async (ms: number, peer: { id: string; probes: boolean; beats: boolean }) => {
    for (let t = 0; t < ms; t += INTERVAL / 4) {
      jest.advanceTimersByTime(INTERVAL / 4);
      if (peer.beats) beat(peer.id);
      if (peer.probes && (t + INTERVAL / 4) % INTERVAL === 0) probeFrom(peer.id);
      await probes.refreshPeers();
    }
  };
  return { probes, registry, beat, probeFrom, leave, run };
}

describe(ClusterProbes.name, () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('a healthy peer is never silent, and its probe age stays under an interval', async () => {
    const { probes, beat, probeFrom, run } = setup();
    beat('b');
    probeFrom('b');
    await probes.refreshPeers();
    await run(10 * INTERVAL, { id: 'b', probes: true, beats: true });
    expect(probes.delivery()).toEqual([{ instanceId: 'b', ageMs: expect.any(Number), silent: false }]);
    expect(probes.delivery()[0].ageMs).toBeLessThan(INTERVAL);
    expect(probes.silenceMs()).toBe(0);
  });

  it('a peer whose heartbeat continues but whose probes stop is silent after two intervals, until one arrives', async () => {
    const { probes, beat, probeFrom, run } = setup();
    beat('b');
    probeFrom('b');
    await probes.refreshPeers();
    await run(2 * INTERVAL - INTERVAL / 4, { id: 'b', probes: false, beats: true });
    expect(probes.silenceMs()).toBe(0);
    await run(INTERVAL / 4, { id: 'b', probes: false, beats: true });
    expect(probes.delivery()[0].silent).toBe(true);
    expect(probes.silenceMs()).toBe(2 * INTERVAL);
    probeFrom('b');
    expect(probes.silenceMs()).toBe(0);
  });

  it('a peer that died (heartbeat and probes stop together) is not silent while its heartbeat key lives on', async () => {
    const { probes, beat, probeFrom, run } = setup();
    beat('b');
    probeFrom('b');
    await probes.refreshPeers();
    await run(INTERVAL, { id: 'b', probes: true, beats: true });
    // Its last heartbeat stays readable (TTL of three beats) but is never renewed.
    await run(5 * INTERVAL, { id: 'b', probes: false, beats: false });
    expect(probes.delivery()[0]).toMatchObject({ silent: false });
    expect(probes.delivery()[0].ageMs).toBeGreaterThanOrEqual(4 * INTERVAL);
  });

  it('exposes the age per peer and drops the series when the peer leaves', async () => {
    const { probes, registry, beat, probeFrom, leave } = setup();
    beat('b');
    beat('c');
    probeFrom('b');
    await probes.refreshPeers();
    jest.advanceTimersByTime(1500);
    let text = await registry.getSingleMetricAsString('cluster_probe_age_seconds');
    expect(text).toContain('cluster_probe_age_seconds{peer="b"} 1.5');
    expect(text).toContain('cluster_probe_age_seconds{peer="c"} 1.5');
    leave('c');
    await probes.refreshPeers();
    text = await registry.getSingleMetricAsString('cluster_probe_age_seconds');
    expect(text).toContain('peer="b"');
    expect(text).not.toContain('peer="c"');
  });

  it('records the probe lag, a negative one (clock skew) as 0, and ignores malformed probes and its own', async () => {
    const { probes, registry } = setup();
    probes.receive({ from: 'b', sentAt: Date.now() - 30, seq: 1 });
    probes.receive({ from: 'b', sentAt: Date.now() + 5000, seq: 2 });
    probes.receive({ from: 'me', sentAt: Date.now(), seq: 3 });
    probes.receive('garbage');
    probes.receive({ from: 'b', sentAt: 'now' });
    const lag = await registry.getSingleMetricAsString('cluster_probe_lag_seconds');
    expect(lag).toContain('cluster_probe_lag_seconds_count 2');
    expect(lag).toContain('cluster_probe_lag_seconds_sum 0.03');
    expect(await registry.getSingleMetricAsString('cluster_probes_received_total')).toContain(
      'cluster_probes_received_total 2',
    );
  });
});
