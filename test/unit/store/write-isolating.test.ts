import { describe, expect, it } from 'vitest';
import { writeIsolating } from '../../../src/store/errors.js';

const dataError = (item: number) => Object.assign(new Error(`refused ${item}`), { code: '22P05' });

describe('writeIsolating', () => {
  it('halves a refused batch until the refused items stand alone and writes all the others', async () => {
    const stored: number[] = [];
    const refused: number[] = [];
    let writes = 0;
    const items = Array.from({ length: 16 }, (_, i) => i);
    await writeIsolating(
      items,
      async (part) => {
        writes++;
        const bad = part.find((i) => i === 3 || i === 11);
        if (bad !== undefined) throw dataError(bad);
        stored.push(...part);
      },
      (item, err) => {
        expect((err as Error).message).toBe(`refused ${item}`);
        refused.push(item);
      },
    );
    expect(refused).toEqual([3, 11]);
    expect(stored.sort((a, b) => a - b)).toEqual(items.filter((i) => i !== 3 && i !== 11));
    expect(writes).toBeLessThan(items.length);
  });

  it('throws what is not a refusal (a database that is down) and keeps what was written before it', async () => {
    const stored: number[] = [];
    let calls = 0;
    const down = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    await expect(
      writeIsolating(
        [1, 2, 3, 4],
        async (part) => {
          calls++;
          if (calls === 1) throw dataError(1);
          if (calls === 3) throw down;
          stored.push(...part);
        },
        () => undefined,
      ),
    ).rejects.toBe(down);
    expect(stored).toEqual([1, 2]);
  });

  it('takes the caller’s test of what counts as a refusal', async () => {
    const refused: string[] = [];
    await writeIsolating(
      ['a', 'b'],
      async (part) => {
        if (part.includes('b')) throw new Error('not an SQLSTATE, refused anyway');
      },
      (item) => refused.push(item),
      (err) => err instanceof Error,
    );
    expect(refused).toEqual(['b']);
    await expect(writeIsolating(['a'], () => Promise.reject(dataError(0)), () => undefined, () => false)).rejects.toThrow('refused 0');
  });
});
