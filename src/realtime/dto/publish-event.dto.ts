import { z } from 'zod';
import { hasControlChars } from '../socket-auth';
import { PORTFOLIO_ID_PATTERN, PUBLISH_MAX_DATA_BYTES, SERVER_EVENTS } from '../realtime.events';

const portfolioId = z
  .string({ invalid_type_error: 'must be a string' })
  .regex(PORTFOLIO_ID_PATTERN, 'must be 1-64 characters of letters, digits, "_" or "-"');

const userId = z
  .string({ invalid_type_error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .refine((v) => !hasControlChars(v), 'must not contain control characters');

/** JSON size of `data`, or -1 when it holds a `__proto__` key anywhere (refused: clients may merge it naively). */
function jsonSize(value: object): number {
  let polluted = false;
  const json = JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    if (key === '__proto__') polluted = true;
    return v;
  });
  return polluted ? -1 : Buffer.byteLength(json, 'utf8');
}

// z.custom keeps the caller's object as is (z.record would copy it key by key).
const data = z
  .custom<Record<string, unknown>>(
    (v) => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype,
    'must be an object',
  )
  .superRefine((v, ctx) => {
    const size = jsonSize(v);
    if (size === -1) ctx.addIssue({ code: 'custom', message: 'must not contain "__proto__" keys' });
    else if (size > PUBLISH_MAX_DATA_BYTES) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${PUBLISH_MAX_DATA_BYTES} bytes as JSON` });
    }
  });

/**
 * POST /events body. `portfolio:update` goes to one portfolio's room; `trade:executed` to a user's own
 * sockets, a portfolio's room, or both. Unknown fields are refused.
 */
export const publishEventSchema = z
  .object({
    event: z.enum([SERVER_EVENTS.PORTFOLIO_UPDATE, SERVER_EVENTS.TRADE_EXECUTED], {
      errorMap: () => ({
        message: `must be ${SERVER_EVENTS.PORTFOLIO_UPDATE} or ${SERVER_EVENTS.TRADE_EXECUTED}`,
      }),
    }),
    portfolioId: portfolioId.optional(),
    userId: userId.optional(),
    data,
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.event === SERVER_EVENTS.PORTFOLIO_UPDATE) {
      if (body.portfolioId === undefined) {
        ctx.addIssue({ code: 'custom', path: ['portfolioId'], message: `is required for ${body.event}` });
      }
      if (body.userId !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['userId'], message: `is not allowed for ${body.event}` });
      }
    } else if (body.portfolioId === undefined && body.userId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['userId'],
        message: 'userId or portfolioId (or both) is required',
      });
    }
  });

export type PublishEventDto = z.infer<typeof publishEventSchema>;

export interface FieldError {
  field: string;
  message: string;
}

export function publishEventErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('.') : 'body',
    message:
      issue.code === 'unrecognized_keys' ? `unexpected field(s): ${issue.keys.join(', ')}` : issue.message,
  }));
}
