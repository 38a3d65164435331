import { describe, expect, test } from 'vitest';
import { Slot } from '../../agent/src/slot.js';

describe('Slot', () => {
  test('grants turns one at a time, in arrival order', async () => {
    const slot = new Slot();
    const order: string[] = [];
    const run = async (name: string, ms: number): Promise<void> => {
      const release = await slot.acquire();
      order.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      order.push(`end ${name}`);
      release();
    };
    await Promise.all([run('a', 30), run('b', 1), run('c', 1)]);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  test('releasing twice is harmless', async () => {
    const slot = new Slot();
    const release = await slot.acquire();
    release();
    release();
    const next = await slot.acquire();
    expect(slot.waiting).toBe(0);
    next();
  });
});
