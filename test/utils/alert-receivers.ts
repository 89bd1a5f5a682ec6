import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** How the webhook answers one request. */
export type WebhookBehaviour =
  { kind: 'status'; status: number; headers?: Record<string, string> } | { kind: 'reset' } | { kind: 'hang' };

export interface ReceivedRequest {
  path: string;
  body: unknown;
  /** The body exactly as received (a signature covers these bytes). */
  raw: string;
  headers: IncomingMessage['headers'];
  at: number;
}

/**
 * A local stand-in for a Slack or Discord webhook: records every JSON body, answers per a script (then with
 * `fallback`), and can reset connections or never answer, to inject faults for real.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private script: WebhookBehaviour[] = [];
  fallback: WebhookBehaviour = { kind: 'status', status: 200 };
  port = 0;

  constructor(private readonly okStatus = 200) {
    this.fallback = { kind: 'status', status: okStatus };
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The next responses, in order; afterwards `fallback`. */
  respond(...behaviours: WebhookBehaviour[]): this {
    this.script.push(...behaviours);
    return this;
  }

  reset(): void {
    this.requests.length = 0;
    this.script = [];
    this.fallback = { kind: 'status', status: this.okStatus };
  }

  get bodies(): unknown[] {
    return this.requests.map((r) => r.body);
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the raw text
      }
      this.requests.push({ path: req.url ?? '', body, raw: text, headers: req.headers, at: Date.now() });
      const behaviour = this.script.shift() ?? this.fallback;
      if (behaviour.kind === 'reset') {
        req.socket.resetAndDestroy();
        return;
      }
      if (behaviour.kind === 'hang') return;
      res.writeHead(behaviour.status, { 'content-type': 'text/plain', ...(behaviour.headers ?? {}) });
      res.end(behaviour.status < 300 ? 'ok' : 'error');
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  subject: string;
}

/** A local SMTP server (the smtp-server package) that accepts every message without TLS or auth. */
export class SmtpReceiver {
  readonly messages: ReceivedMail[] = [];
  private server: SMTPServer | null = null;
  port = 0;

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const subject = /^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '';
          const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
          this.messages.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw, subject });
          callback();
        });
      },
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
