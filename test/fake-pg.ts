/**
 * A fake PostgreSQL server for the answers a trust-auth test server cannot give: enough of
 * the wire protocol (https://www.postgresql.org/docs/current/protocol-flow.html) to answer
 * an SSLRequest with 'N', ask for a password, and end a startup with an ErrorResponse of a
 * chosen SQLSTATE, as a real server does. A real TCP server that the CLI (a child process)
 * connects to: nothing of zsetup is mocked. It counts the connections and startups it saw,
 * and keeps what clients sent (to check that a password went over the wire, yet never
 * into the output).
 */
import net from 'node:net';

export interface FakeAnswer {
  /** Answer an SSLRequest with 'N' (the server does not support SSL). Default true. */
  refuseSsl?: boolean;
  /** Ask for a cleartext password before answering (AuthenticationCleartextPassword). */
  askPassword?: boolean;
  /** The ErrorResponse that ends the startup. */
  error: { code: string; message: string; severity?: string; detail?: string };
}

export interface FakePg {
  port: number;
  /** TCP connections accepted. */
  connections: number;
  /** StartupMessages received (SSLRequests not counted). */
  startups: number;
  sslRequests: number;
  /** Password messages received, as sent. */
  passwords: string[];
  /** The startup parameters of each startup (user, database, ...). */
  params: Array<Record<string, string>>;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const PROTOCOL_3 = 196608;

/** Start a fake server on 127.0.0.1 (a free port); `answer` says how it answers each startup. */
export async function fakePg(answer: FakeAnswer | ((startup: number) => FakeAnswer)): Promise<FakePg> {
  const sockets = new Set<net.Socket>();
  const state: FakePg = {
    port: 0,
    connections: 0,
    startups: 0,
    sslRequests: 0,
    passwords: [],
    params: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let started = false;
    let current: FakeAnswer | undefined;
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (!started) {
          // Untyped messages: Int32 length (itself included), Int32 code, body.
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readInt32BE(4);
          const body = buf.subarray(8, len);
          buf = buf.subarray(len);
          if (code === SSL_REQUEST) {
            state.sslRequests++;
            const a = typeof answer === 'function' ? answer(state.startups + 1) : answer;
            // 'N': no SSL here. A client that requires SSL gives up; libpq with prefer goes on in clear.
            socket.write(a.refuseSsl === false ? 'S' : 'N');
            continue;
          }
          if (code !== PROTOCOL_3) return void socket.destroy();
          started = true;
          state.startups++;
          const parts = body.toString('utf8').split('\0');
          const params: Record<string, string> = {};
          for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params[parts[i]!] = parts[i + 1]!;
          state.params.push(params);
          current = typeof answer === 'function' ? answer(state.startups) : answer;
          if (current.askPassword) {
            socket.write(message('R', int32(3))); // AuthenticationCleartextPassword
            continue;
          }
          return void fail(socket, current);
        }
        // Typed messages: Byte1 type, Int32 length (itself included), body.
        if (buf.length < 5) return;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const type = String.fromCharCode(buf[0]!);
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (type === 'p' && current) {
          state.passwords.push(body.toString('utf8').replace(/\0$/, ''));
          return void fail(socket, current);
        }
        if (type === 'X') return void socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

/** End the startup as a server does: an ErrorResponse, then the connection closes. */
function fail(socket: net.Socket, a: FakeAnswer): void {
  const e = a.error;
  const severity = e.severity ?? 'FATAL';
  const fields = [`S${severity}`, `V${severity}`, `C${e.code}`, `M${e.message}`, ...(e.detail ? [`D${e.detail}`] : [])];
  socket.end(message('E', Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`, 'utf8')), Buffer.from([0])])));
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}
