import WebSocket, { RawData } from 'ws';

/** One frame as received: text frames as strings, binary frames as Buffers. */
export type Frame = string | Buffer;

export interface EngineOpen {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

export interface RawClientOptions {
  headers?: Record<string, string>;
  /** Answer engine.io pings ('2') with pongs ('3'), as a live client does. Off: the client looks dead. */
  answerPings?: boolean;
}

/**
 * A Socket.IO client written at the frame level on top of `ws`, for sending what socket.io-client never would:
 * garbage, malformed packets, CONNECT twice, events before CONNECT, binary where JSON is expected. Every frame
 * received is kept; `closed` resolves with the close code when the server (or the network) ends the connection.
 *
 * Protocol reminders: engine.io v4 packets '0' open, '2' ping, '3' pong, '4' message; inside a message,
 * socket.io packets '0' CONNECT, '2' EVENT, '3' ACK, '4' CONNECT_ERROR, '5' BINARY_EVENT. So '40{...}' connects to
 * the main namespace, '42["e",{...}]' is an event, '421["e",{...}]' one with ack id 1, answered by '431[...]'.
 */
export class RawEngineClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Set when the server refused the HTTP upgrade. */
  refusedWith: number | null = null;
  private waiters: Array<() => void> = [];
  private isClosed = false;

  private constructor(
    readonly ws: WebSocket,
    options: RawClientOptions,
  ) {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const frame: Frame = isBinary ? toBuffer(data) : toBuffer(data).toString('utf8');
      if (frame === '2' && options.answerPings !== false) ws.send('3');
      this.frames.push(frame);
      this.wake();
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.isClosed = true;
        this.wake();
        resolve({ code, reason: reason.toString('utf8') });
      }),
    );
  }

  /** Opens the WebSocket transport; resolves once the upgrade is done (or refused: see `refusedWith`). */
  static async open(baseUrl: string, options: RawClientOptions = {}): Promise<RawEngineClient> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const ws = new WebSocket(url, { headers: options.headers, maxPayload: 64 * 1024 * 1024 });
    const client = new RawEngineClient(ws, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        client.refusedWith = res.statusCode ?? 0;
        res.resume();
        resolve();
      });
      ws.once('error', reject);
    });
    return client;
  }

  get isOpen(): boolean {
    return !this.isClosed && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: string | Buffer): void {
    this.ws.send(frame, { binary: Buffer.isBuffer(frame) });
  }

  /** Waits for the engine.io open packet. */
  async handshake(timeoutMs = 3000): Promise<EngineOpen> {
    const open = await this.next((f) => typeof f === 'string' && f.startsWith('0'), timeoutMs);
    return JSON.parse((open as string).slice(1)) as EngineOpen;
  }

  /** Sends a Socket.IO CONNECT with `auth` and returns the answer: '40{"sid":..}' or '44{"message":..}'. */
  async connectNamespace(auth: object | undefined, timeoutMs = 3000): Promise<string> {
    const from = this.frames.length;
    this.send(auth === undefined ? '40' : `40${JSON.stringify(auth)}`);
    return (await this.next((f) => typeof f === 'string' && /^4[04]/.test(f), timeoutMs, from)) as string;
  }

  /** Handshake plus an accepted CONNECT; throws if refused. */
  async connectAs(token: string): Promise<void> {
    await this.handshake();
    const answer = await this.connectNamespace({ token });
    if (!answer.startsWith('40')) throw new Error(`CONNECT refused: ${answer}`);
  }

  /** Sends an event with an ack id and resolves with the ack's arguments. */
  async emitWithAck(id: number, event: string, payload: unknown, timeoutMs = 3000): Promise<unknown[]> {
    const from = this.frames.length;
    this.send(`42${id}${JSON.stringify([event, payload])}`);
    const ack = await this.next((f) => typeof f === 'string' && f.startsWith(`43${id}[`), timeoutMs, from);
    return JSON.parse((ack as string).slice(`43${id}`.length)) as unknown[];
  }

  /** The first frame from index `from` on that matches; rejects after `timeoutMs` or when the connection closes. */
  async next(match: (f: Frame) => boolean, timeoutMs = 3000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found !== undefined) return found;
      if (this.isClosed) throw new Error('connection closed before the expected frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs}ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the close code, or rejects if the server keeps the connection open past `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<{ code: number; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.closed,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs}ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops reading from the socket: the server's writes pile up in the kernel buffers and nothing is answered. */
  stopReading(): void {
    this.ws.pause();
  }

  terminate(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
