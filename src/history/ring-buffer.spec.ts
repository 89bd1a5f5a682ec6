import { RingBuffer } from './ring-buffer';

describe(RingBuffer.name, () => {
  it('keeps insertion order below capacity', () => {
    const r = new RingBuffer<number>(3);
    r.push(1);
    r.push(2);
    expect([...r]).toEqual([1, 2]);
    expect(r.size).toBe(2);
    expect(r.at(0)).toBe(1);
    expect(r.at(2)).toBeUndefined();
  });

  it('overwrites the oldest entries once full and never grows', () => {
    const r = new RingBuffer<number>(3);
    for (let i = 1; i <= 10; i++) r.push(i);
    expect(r.size).toBe(3);
    expect([...r]).toEqual([8, 9, 10]);
    expect(r.at(0)).toBe(8);
    expect(r.at(-1)).toBeUndefined();
  });

  it('newest(limit) returns newest first', () => {
    const r = new RingBuffer<number>(4);
    for (let i = 1; i <= 6; i++) r.push(i);
    expect(r.newest(2)).toEqual([6, 5]);
    expect(r.newest(100)).toEqual([6, 5, 4, 3]);
    expect(r.newest(0)).toEqual([]);
  });

  it('rejects a non-positive capacity', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
  });
});
