import { connect } from 'node:net';

export interface RawHttpResponse {
  status: number;
  /** Header lines as sent, lower-cased names; repeated headers keep every value. */
  headers: Array<[string, string]>;
  body: string;
  /** Everything the server sent, unparsed. */
  raw: string;
}

/**
 * Sends bytes exactly as given over a fresh TCP connection and reads until the server closes or `timeoutMs`
 * passes. For requests that Node's HTTP client refuses to send (raw paths, control characters in headers).
 * Send `Connection: close` so the server ends the exchange.
 */
export function rawHttp(port: number, payload: string | Buffer, timeoutMs = 5000): Promise<RawHttpResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs}ms`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve(parse(raw));
    });
    socket.write(payload);
  });
}

function parse(raw: string): RawHttpResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  const headers = lines.map((l): [string, string] => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  });
  let body = end === -1 ? '' : raw.slice(end + 4);
  if (headers.some(([k, v]) => k === 'transfer-encoding' && v.toLowerCase() === 'chunked'))
    body = unchunk(body);
  return { status, headers, body, raw };
}

function unchunk(body: string): string {
  let out = '';
  let rest = body;
  for (let guard = 0; guard < 10_000; guard++) {
    const i = rest.indexOf('\r\n');
    if (i === -1) break;
    const size = parseInt(rest.slice(0, i), 16);
    if (!(size > 0)) break;
    out += rest.slice(i + 2, i + 2 + size);
    rest = rest.slice(i + 2 + size + 2);
  }
  return out;
}

/** The values of one header in a raw response. */
export function headerValues(res: RawHttpResponse, name: string): string[] {
  return res.headers.filter(([k]) => k === name.toLowerCase()).map(([, v]) => v);
}
