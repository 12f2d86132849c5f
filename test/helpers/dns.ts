/**
 * A tiny authoritative DNS server over UDP for tests: answers TXT questions from a map and
 * NXDOMAIN for anything else. Enough wire format (RFC 1035 §4) for node:dns to resolve TXT.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface TestDns {
  /** `127.0.0.1:<port>`, for a resolver's setServers. */
  server: string;
  /** TXT records by lower-case name; each record is one or more strings. */
  txt: Map<string, string[][]>;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  for (let len = msg[at] ?? 0; len !== 0; len = msg[at] ?? 0) {
    labels.push(msg.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: at + 1 };
}

function txtRdata(strings: string[]): Buffer {
  return Buffer.concat(
    strings.map((s) => {
      const b = Buffer.from(s, 'utf8');
      return Buffer.concat([Buffer.from([b.length]), b]);
    }),
  );
}

function answer(query: Buffer, records: Map<string, string[][]>): Buffer {
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const found = qtype === 16 ? records.get(name) : undefined;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  // QR, opcode 0, AA, RD copied; RA; RCODE 3 (NXDOMAIN) when nothing is known.
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | (found === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(found?.length ?? 0, 6);
  const answers = (found ?? []).map((strings) => {
    const rdata = txtRdata(strings);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(16, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, question, ...answers]);
}

export async function startTestDns(): Promise<TestDns> {
  const txt = new Map<string, string[][]>();
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, peer) => {
    try {
      socket.send(answer(msg, txt), peer.port, peer.address);
    } catch {
      // a malformed question gets no answer, as from a real server under attack
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  return {
    server: `127.0.0.1:${port}`,
    txt,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
