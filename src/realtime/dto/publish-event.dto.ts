import { z } from 'zod';
import { hasControlChars } from '../socket-auth';
import {
  PORTFOLIO_ID_PATTERN,
  PUBLISH_MAX_DATA_BYTES,
  PUBLISH_MAX_DATA_DEPTH,
  SERVER_EVENTS,
} from '../realtime.events';

const portfolioId = z
  .string({ invalid_type_error: 'must be a string' })
  .regex(PORTFOLIO_ID_PATTERN, 'must be 1-64 characters of letters, digits, "_" or "-"');

const userId = z
  .string({ invalid_type_error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .refine((v) => !hasControlChars(v), 'must not contain control characters');

/**
 * Refuses what would hurt later: `__proto__` keys anywhere (clients may merge `data` naively) and nesting deeper
 * than PUBLISH_MAX_DATA_DEPTH (JSON.stringify and Socket.IO's binary scan recurse, so a deep enough object
 * overflows the stack). Walks with an explicit stack, so the check itself cannot overflow.
 */
function dataProblem(value: object): string | null {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > PUBLISH_MAX_DATA_DEPTH) return `must not nest deeper than ${PUBLISH_MAX_DATA_DEPTH} levels`;
    for (const key of Object.keys(v)) {
      if (key === '__proto__') return 'must not contain "__proto__" keys';
      stack.push([(v as Record<string, unknown>)[key], depth + 1]);
    }
  }
  return null;
}

// z.custom keeps the caller's object as is (z.record would copy it key by key).
const data = z
  .custom<Record<string, unknown>>(
    (v) => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype,
    'must be an object',
  )
  .superRefine((v, ctx) => {
    const problem = dataProblem(v);
    if (problem !== null) {
      ctx.addIssue({ code: 'custom', message: problem });
      return;
    }
    const size = Buffer.byteLength(JSON.stringify(v), 'utf8');
    if (size > PUBLISH_MAX_DATA_BYTES) {
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
