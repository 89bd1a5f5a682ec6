import type { AlertHistoryStore, AlertTransition } from '../history/history.types';
import { AlertHistory } from './alert-history';

const transition = (i: number): AlertTransition => ({
  key: 'system.cpu',
  from: 'ok',
  to: 'warning',
  message: `m${i}`,
  value: i,
  threshold: 70,
  timestamp: new Date(1_700_000_000_000 + i),
  instanceId: 'i-1',
});

describe(AlertHistory.name, () => {
  it('without a store keeps the last 100 transitions, newest first', async () => {
    const h = new AlertHistory(null);
    for (let i = 0; i < 130; i++) h.record(transition(i));
    const recent = await h.recent();
    expect(recent).toHaveLength(100);
    expect(recent[0].value).toBe(129);
    expect(recent[99].value).toBe(30);
  });

  it('with a store writes to it and reads from it', async () => {
    const appended: AlertTransition[] = [];
    const store: AlertHistoryStore = {
      append: (t) => {
        appended.push(t);
        return Promise.resolve();
      },
      recent: (limit) => Promise.resolve([transition(999)].slice(0, limit)),
    };
    const h = new AlertHistory(store);
    h.record(transition(1));
    expect(appended).toEqual([transition(1)]);
    expect(await h.recent()).toEqual([transition(999)]);
  });

  it('answers from this instance when the store cannot, and survives a store that rejects writes', async () => {
    const store: AlertHistoryStore = {
      append: () => Promise.reject(new Error('down')),
      recent: () => Promise.reject(new Error('down')),
    };
    const h = new AlertHistory(store);
    h.record(transition(1));
    await new Promise((r) => setImmediate(r));
    expect(await h.recent()).toEqual([transition(1)]);
  });
});
