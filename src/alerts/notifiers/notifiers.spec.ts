import type { AlertNotification } from '../alert.types';
import { colorFor } from './notifier';
import { DiscordNotifier } from './discord.notifier';
import { SlackNotifier } from './slack.notifier';
import { parseRetryAfter } from './webhook-client';

const n = (level: AlertNotification['level']): AlertNotification => ({
  key: 'system.cpu',
  kind: 'firing',
  level,
  text: '[CRITICAL] CPU usage is 95%, at or above the critical threshold of 90%',
  title: '[CRITICAL] svc: CPU usage',
  timestamp: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
  clusterWide: false,
});

describe(SlackNotifier.name, () => {
  it("builds exactly the seed's message", () => {
    expect(SlackNotifier.payload(n('critical'), 'svc')).toEqual({
      attachments: [
        {
          color: '#FF0000',
          text: '[CRITICAL] CPU usage is 95%, at or above the critical threshold of 90%',
          footer: 'svc',
          ts: Date.UTC(2025, 0, 2, 3, 4, 5) / 1000,
        },
      ],
    });
  });

  it('colours by level: critical red, warning orange, info blue, otherwise grey', () => {
    expect(['critical', 'warning', 'info'].map((l) => colorFor(l))).toEqual([
      '#FF0000',
      '#FFA500',
      '#0000FF',
    ]);
    expect(colorFor('debug')).toBe('#808080');
  });
});

describe(DiscordNotifier.name, () => {
  it('builds one embed with the same text and the colour as an integer', () => {
    expect(DiscordNotifier.payload(n('warning'), 'svc')).toEqual({
      embeds: [
        {
          description: '[CRITICAL] CPU usage is 95%, at or above the critical threshold of 90%',
          color: 0xffa500,
          footer: { text: 'svc' },
          timestamp: '2025-01-02T03:04:05.678Z',
        },
      ],
    });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, ignores garbage', () => {
    const now = Date.UTC(2025, 0, 1, 0, 0, 0);
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('0.5', now)).toBe(500);
    expect(parseRetryAfter(new Date(now + 3000).toUTCString(), now)).toBe(3000);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});
