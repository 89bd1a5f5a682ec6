import { Logger } from '@nestjs/common';
import { WriteBuffer } from './write-buffer';

function setup(overrides: { capacity?: number; timeoutMs?: number; batchSize?: number } = {}) {
  const state = { up: true, fail: false, hang: false, written: [] as number[][] };
  const logger = new Logger('WriteBufferSpec');
  const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  const log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
  const buffer = new WriteBuffer<number>({
    name: 'numbers',
    capacity: overrides.capacity ?? 5,
    timeoutMs: overrides.timeoutMs ?? 50,
    batchSize: overrides.batchSize ?? 100,
    canWrite: () => state.up,
    insert: (batch) => {
      if (state.hang) return new Promise<void>(() => undefined);
      if (state.fail) return Promise.reject(new Error('boom'));
      state.written.push([...batch]);
      return Promise.resolve();
    },
    logger,
  });
  return { state, buffer, warn, log };
}

describe(WriteBuffer.name, () => {
  it('writes at once while the backend answers', async () => {
    const { state, buffer, log, warn } = setup();
    await buffer.add(1);
    await buffer.add(2);
    expect(state.written).toEqual([[1], [2]]);
    expect(buffer.pending).toBe(0);
    expect(log).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
  });

  it('buffers while disconnected, drops the oldest beyond capacity with ONE warning, and writes the rest in order on flush', async () => {
    const { state, buffer, warn, log } = setup({ capacity: 5 });
    state.up = false;
    for (let i = 1; i <= 12; i++) await expect(buffer.add(i)).resolves.toBeUndefined();
    expect(buffer.pending).toBe(5);
    expect(buffer.isFailing).toBe(true);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatchObject({ records: 'numbers', capacity: 5 });
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toMatchObject({ message: expect.stringMatching(/buffering/) });

    state.up = true;
    await buffer.flush();
    expect(state.written).toEqual([[8, 9, 10, 11, 12]]);
    expect(buffer.pending).toBe(0);
    expect(buffer.isFailing).toBe(false);
    expect(log).toHaveBeenLastCalledWith(
      expect.objectContaining({ message: 'History writes restored', written: 5, dropped: 7 }),
    );

    // A second outage warns again, once.
    state.up = false;
    for (let i = 0; i < 10; i++) await buffer.add(i);
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it('a rejected insert keeps the batch queued and retries it with the next record', async () => {
    const { state, buffer } = setup();
    state.fail = true;
    await expect(buffer.add(1)).resolves.toBeUndefined();
    await buffer.add(2);
    expect(buffer.pending).toBe(2);
    state.fail = false;
    await buffer.add(3);
    expect(state.written).toEqual([[1, 2, 3]]);
  });

  it('a hanging insert counts as failed after timeoutMs; add() still resolves', async () => {
    const { state, buffer, log } = setup({ timeoutMs: 30 });
    state.hang = true;
    await expect(buffer.add(1)).resolves.toBeUndefined();
    expect(buffer.pending).toBe(1);
    expect(log.mock.calls[0][0]).toMatchObject({ reason: 'MongoDB did not acknowledge numbers within 30ms' });
    state.hang = false;
    await buffer.flush();
    expect(state.written).toEqual([[1]]);
  });

  it('writes in batches of batchSize', async () => {
    const { state, buffer } = setup({ capacity: 10, batchSize: 4 });
    state.up = false;
    for (let i = 1; i <= 9; i++) await buffer.add(i);
    state.up = true;
    await buffer.flush();
    expect(state.written).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9]]);
  });

  it('records added while a write is in flight are written too', async () => {
    const { state, buffer } = setup();
    const a = buffer.add(1);
    const b = buffer.add(2);
    await Promise.all([a, b]);
    await buffer.flush();
    expect(state.written.flat()).toEqual([1, 2]);
  });
});
