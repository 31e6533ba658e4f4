/**
 * A DNS server on 127.0.0.1 for tests, on its own thread (a guest's lookups block the test's
 * thread while the host's helper asks it). It answers A and AAAA questions from `records` and
 * NXDOMAIN for names it does not know, and remembers every question it was asked.
 */
import { peerWorker } from './peer-worker.ts';

export interface DnsServer {
  /** `127.0.0.1:PORT`, for a grant's `nameservers`. */
  readonly address: string;
  /** The questions asked so far, as `name TYPE` (`A`, `AAAA`). */
  questions(): Promise<string[]>;
  close(): Promise<void>;
}

const SOURCE = `
const records = workerData;
const questions = [];
const socket = require('node:dgram').createSocket('udp4');
function rdata(address) {
  if (!address.includes(':')) return Buffer.from(address.split('.').map(Number));
  const [head, tail = ''] = address.split('::');
  const part = (s) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = part(head), t = part(tail);
  const groups = address.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill(0), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}
socket.on('message', (query, peer) => {
  let off = 12;
  const labels = [];
  while (off < query.length && query[off] !== 0) {
    labels.push(query.subarray(off + 1, off + 1 + query[off]).toString('latin1'));
    off += query[off] + 1;
  }
  const name = labels.join('.').toLowerCase();
  const type = query.readUInt16BE(off + 1);
  questions.push(name + ' ' + (type === 1 ? 'A' : type === 28 ? 'AAAA' : type));
  const known = Object.hasOwn(records, name);
  const answers = (known ? records[name] : []).filter((a) => (type === 1 ? !a.includes(':') : type === 28 && a.includes(':')));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(known ? 0x8180 : 0x8183, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((a) => {
    const data = rdata(a);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(data.length, 10);
    return Buffer.concat([rr, data]);
  });
  socket.send(Buffer.concat([header, query.subarray(12, off + 5), ...rrs]), peer.port, peer.address);
});
socket.bind(0, '127.0.0.1', () => parentPort.postMessage(socket.address().port));
parentPort.on('message', (m) => {
  if (m !== 'stop') return parentPort.postMessage(questions);
  socket.close(() => process.exit(0));
});
`;

/** Starts a server answering `records` (name → addresses, IPv4 and IPv6 mixed). */
export async function dnsServer(records: Record<string, string[]>): Promise<DnsServer> {
  const peer = await peerWorker<number>(SOURCE, records);
  return { address: `127.0.0.1:${peer.ready}`, questions: () => peer.ask<string[]>('questions'), close: () => peer.close() };
}
