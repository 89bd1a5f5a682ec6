import type { ServerResponse } from 'node:http';

/**
 * Why the server refused a request before it reached a handler. The log line of such a request is a warning
 * carrying this reason: a refused request is the client's doing, not a server error, but an operator must be
 * able to see a flood of them (bodies too large, wrong tokens, stalled uploads).
 */
export const REJECTIONS = {
  PUBLISHING_DISABLED: 'publishing_disabled',
  UNAUTHORIZED: 'unauthorized',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  BODY_TOO_LARGE: 'body_too_large',
  BODY_TIMEOUT: 'body_timeout',
  MALFORMED_BODY: 'malformed_body',
} as const;
export type Rejection = (typeof REJECTIONS)[keyof typeof REJECTIONS];

/** Kept on the response itself, so the mark lives and dies with the one request it describes. */
const REJECTION = Symbol('rejection');
type Marked = ServerResponse & { [REJECTION]?: Rejection };

export function markRejected(res: ServerResponse, reason: Rejection): void {
  (res as Marked)[REJECTION] = reason;
}

export function rejectionOf(res: ServerResponse): Rejection | undefined {
  return (res as Marked)[REJECTION];
}
