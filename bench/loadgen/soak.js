#!/usr/bin/env node
// Soak generator for the chat server (`make soak`, driven by bench/soak.py).
//
// Same wire technique as loadgen.js (raw Engine.IO v4 / Socket.IO v4 over
// `ws`, open-loop schedule, latency from the *due* time), but it keeps a
// record of every message instead of counters, because the soak's question is
// "was anything lost or duplicated", answered afterwards against the database:
//   - every send: client_id, conversation, sender, the acknowledged message id;
//   - every socket: each message id received live (`message:new`), with raw
//     repeat counts, and each id recovered by the final `sync`;
//   - latency per minute of the run; RSS and CPU of each server every sample.
// A socket that drops reconnects, resends its unacknowledged sends with the
// same client_id (the documented outbox recipe) and syncs from its cursors.
//
// Usage: node soak.js <config.json> <report.json>
'use strict';

const fs = require('fs');
const { performance } = require('perf_hooks');
const WebSocket = require('ws');

const NS = '/chat';
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const reportPath = process.argv[3];
const TICK = cfg.clockTicks || 100;

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const r3 = (x) => Math.round(x * 1000) / 1000;
function log(line) { if (!cfg.quiet) process.stderr.write(`[soak] ${line}\n`); }

function percentiles(values) {
  if (!values.length) return { count: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null };
  const v = Float64Array.from(values).sort();
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  let sum = 0;
  for (const x of v) sum += x;
  return { count: v.length, p50: r3(at(0.5)), p90: r3(at(0.9)), p99: r3(at(0.99)), p999: r3(at(0.999)),
    max: r3(v[v.length - 1]), mean: r3(sum / v.length) };
}

function procCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch (e) { return null; }
}
function procRss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch (e) { return null; }
}
function genCpu() { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }

// ------------------------------------------------------------------ state

let t0 = 0; // start of the send schedule
let stopping = false;
let ackCounter = 0;
const sends = []; // index i -> {cid, conv, sender, recipient, due, attempts, ackedId, seq, ackErr}
const lat = []; // per minute: delivery latencies (ms)
const ackLat = []; // per minute: ack latencies (ms)
const counters = { disconnects: 0, reconnects: 0, connectErrors: {}, ackErrors: {}, unexpected: 0, resyncHints: 0,
  echoes: 0, resends: 0, ignoredLive: 0 };

const minuteOf = (due) => Math.max(0, Math.floor((due - t0) / 60000));
function push(buckets, minute, value) { (buckets[minute] = buckets[minute] || []).push(value); }

class Sock {
  constructor(index, spec) {
    this.index = index;
    this.userId = spec.user_id;
    this.token = spec.token;
    this.base = spec.url.replace(/^http/, 'ws');
    this.ready = false;
    this.ws = null;
    this.pending = new Map(); // ack id -> {kind, i | resolve}
    this.live = new Map(); // message id -> times received live
    this.synced = new Set(); // message ids first seen through the final (or a hinted) sync
    this.seqs = new Map(); // conversation -> Set(seq) seen
    this.cursors = new Map(); // conversation -> contiguous high-water mark
    this.conversations = new Set(spec.conversations || []);
    this.unacked = new Set(); // send indexes sent on this socket, not yet acknowledged
  }

  connect() {
    return new Promise((resolve) => {
      let settled = false;
      const done = (ok, why) => {
        if (settled) return;
        settled = true;
        if (!ok) counters.connectErrors[why] = (counters.connectErrors[why] || 0) + 1;
        resolve(ok);
      };
      const ws = new WebSocket(`${this.base}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
      this.ws = ws;
      ws.on('message', (raw) => {
        const data = raw.toString();
        if (data === '2') { ws.send('3'); return; }
        if (data[0] === '0') { ws.send(`40${NS},${JSON.stringify({ token: this.token })}`); return; }
        if (data[0] === '4') this.onPacket(data, done);
      });
      ws.on('error', (err) => done(false, err.code || err.message));
      ws.on('close', () => {
        const wasReady = this.ready;
        this.ready = false;
        for (const [, p] of this.pending) if (p.resolve) p.resolve(null);
        this.pending.clear();
        done(false, 'closed');
        if (wasReady && this.ws === ws) {
          counters.disconnects += 1;
          if (!stopping) this.reconnect();
        }
      });
      setTimeout(() => done(false, 'timeout'), 30000);
    });
  }

  async reconnect() {
    for (let attempt = 1; !stopping; attempt++) {
      await sleep(Math.min(200 * attempt, 2000));
      if (await this.connect()) {
        counters.reconnects += 1;
        for (const i of [...this.unacked]) { counters.resends += 1; this.send(i); }
        this.sync().catch(() => {});
        return;
      }
    }
  }

  onPacket(data, done) {
    const kind = data[1];
    const body = data.slice(data.indexOf(',') + 1);
    if (kind === '2') {
      if (body.startsWith('["message:new"')) this.onMessageNew(JSON.parse(body)[1].message);
      else if (body.startsWith('["ready"')) {
        const ready = JSON.parse(body)[1];
        for (const c of ready.conversations || []) this.conversations.add(c.id);
        this.ready = true;
        done(true);
      } else if (body.startsWith('["resync"')) { counters.resyncHints += 1; this.sync().catch(() => {}); }
    } else if (kind === '3') {
      const bracket = body.indexOf('[');
      const id = Number(body.slice(0, bracket));
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      const ack = JSON.parse(body.slice(bracket))[0];
      if (p.resolve) { p.resolve(ack); return; }
      const rec = sends[p.i];
      if (ack && ack.ok) {
        if (rec.ackedId === null) {
          rec.ackedId = ack.message.id;
          rec.seq = ack.message.seq;
          push(ackLat, minuteOf(rec.due), now() - rec.due);
        } else if (rec.ackedId !== ack.message.id) {
          rec.ackMismatch = ack.message.id; // a resend answered with another message: a duplicate
        }
        this.unacked.delete(p.i);
        this.see(ack.message);
      } else {
        const code = (ack && ack.error && ack.error.code) || 'unknown';
        counters.ackErrors[code] = (counters.ackErrors[code] || 0) + 1;
        rec.ackErr = code;
        this.unacked.delete(p.i); // refused, not stored: the generator does not retry a refusal
      }
    } else if (kind === '4') {
      done(false, 'refused:' + body.slice(0, 80));
    }
  }

  see(msg) {
    let seqs = this.seqs.get(msg.conversation_id);
    if (!seqs) { seqs = new Set(); this.seqs.set(msg.conversation_id, seqs); }
    seqs.add(msg.seq);
    let c = this.cursors.get(msg.conversation_id) || 0;
    while (seqs.has(c + 1)) c += 1;
    this.cursors.set(msg.conversation_id, c);
  }

  onMessageNew(msg) {
    const t = now();
    const i = cfg.clientPrefix && msg.client_id.startsWith(cfg.clientPrefix) ? Number(msg.client_id.slice(cfg.clientPrefix.length)) : NaN;
    const rec = Number.isInteger(i) ? sends[i] : undefined;
    if (!rec) { counters.unexpected += 1; return; }
    if (msg.sender_id === this.userId) { counters.echoes += 1; this.see(msg); return; }
    if (cfg.ignoreLiveEvery && i % cfg.ignoreLiveEvery === 0) {
      // Test hook of the smoke test: act as if this delivery never arrived, so
      // the final sync must recover it. Off (0) in `make soak`.
      if (!rec.ignored) counters.ignoredLive += 1;
      rec.ignored = true;
      return;
    }
    const times = (this.live.get(msg.id) || 0) + 1;
    this.live.set(msg.id, times);
    if (times === 1 && !stopping) push(lat, minuteOf(rec.due), t - rec.due);
    this.see(msg);
  }

  emit(event, payload, pending) {
    const id = ackCounter++;
    this.pending.set(id, pending);
    this.ws.send(`42${NS},${id}${JSON.stringify([event, payload])}`);
  }

  send(i) {
    const rec = sends[i];
    this.unacked.add(i);
    if (!this.ready) return; // resent after the reconnect
    rec.attempts += 1;
    this.emit('message:send', { conversation_id: rec.conv, body: `soak ${i} ${cfg.pad}`, client_id: rec.cid }, { i });
  }

  call(event, payload, timeoutMs = 15000) {
    return new Promise((resolve) => {
      if (!this.ready) { resolve(null); return; }
      const timer = setTimeout(() => resolve(null), timeoutMs);
      this.emit(event, payload, { resolve: (ack) => { clearTimeout(timer); resolve(ack); } });
    });
  }

  // `sync` by cursors until has_more is false; ids not seen live are recovered.
  async sync() {
    for (let round = 0; round < 100; round++) {
      const cursors = {};
      for (const c of this.conversations) cursors[String(c)] = this.cursors.get(c) || 0;
      const ack = await this.call('sync', { cursors, limit: 1000 });
      if (!ack || !ack.ok) return false;
      for (const m of ack.messages) {
        if (m.sender_id !== this.userId && !this.live.has(m.id)) this.synced.add(m.id);
        this.see(m);
      }
      if (!ack.has_more) return true;
    }
    return false;
  }
}

// ------------------------------------------------------------------ run

async function connectAll(socks) {
  let next = 0;
  let ok = 0;
  const t = now();
  const worker = async () => {
    while (next < socks.length) { if (await socks[next++].connect()) ok += 1; }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.connectConcurrency || 50, socks.length) }, worker));
  return { sockets: socks.length, connected: ok, failed: socks.length - ok, seconds: r3((now() - t) / 1000),
    errors: { ...counters.connectErrors } };
}

function sample(socks, startedCpu) {
  const t = (now() - t0) / 1000;
  let acked = 0;
  for (const rec of sends) if (rec.ackedId !== null) acked += 1;
  let live = 0;
  for (const s of socks) live += s.live.size;
  return {
    t: Math.round(t * 10) / 10,
    sent: sends.length, acked, delivered_live: live,
    rss_bytes: cfg.serverPids.map(procRss),
    cpu_seconds: cfg.serverPids.map((pid, k) => {
      const c = procCpuSeconds(pid);
      return c === null ? null : r3(c - startedCpu[k]);
    }),
    generator_cpu_seconds: r3(genCpu()),
    disconnects: counters.disconnects,
  };
}

async function main() {
  const report = { node: process.version, started_at: new Date().toISOString() };
  const socks = cfg.sockets.map((spec, i) => new Sock(i, spec));
  report.connect = await connectAll(socks);
  log(`connected ${report.connect.connected}/${socks.length} in ${report.connect.seconds}s`);
  await sleep((cfg.settleSeconds || 3) * 1000);

  const startedCpu = cfg.serverPids.map((pid) => procCpuSeconds(pid) || 0);
  const g0 = genCpu();
  const pairs = cfg.pairs; // [{a, b, conversation_id}] socket indexes
  const total = Math.floor(cfg.rate * cfg.seconds);
  const interval = 1000 / cfg.rate;
  t0 = now() + 5;
  const samples = [sample(socks, startedCpu)];
  const sampler = setInterval(() => {
    const s = sample(socks, startedCpu);
    samples.push(s);
    log(`t=${s.t}s sent ${s.sent} acked ${s.acked} live ${s.delivered_live} rss ${s.rss_bytes.map((b) => Math.round(b / 1048576)).join('/')} MiB ` +
      `cpu ${s.cpu_seconds.join('/')} s disconnects ${s.disconnects}`);
  }, (cfg.sampleSeconds || 10) * 1000);

  // Open loop: send i is due at t0 + i/rate; a late tick fires everything due.
  let i = 0;
  while (i < total) {
    const t = now();
    while (i < total && t0 + i * interval <= t) {
      const pair = pairs[i % pairs.length];
      const forward = Math.floor(i / pairs.length) % 2 === 0; // each pair alternates direction
      const sender = forward ? pair.a : pair.b;
      const recipient = forward ? pair.b : pair.a;
      sends.push({ cid: `${cfg.clientPrefix}${i}`, conv: pair.conversation_id, sender: socks[sender].userId,
        recipient: socks[recipient].userId, senderSock: sender, recipientSock: recipient, due: t0 + i * interval,
        attempts: 0, ackedId: null, seq: null, ackErr: null });
      socks[sender].send(i);
      i += 1;
    }
    const wait = t0 + i * interval - now();
    if (wait > 1) await sleep(Math.min(wait, 20) - 0.5); else await new Promise(setImmediate);
  }
  const sendSeconds = (now() - t0) / 1000;
  log(`schedule done: ${sends.length} sends in ${r3(sendSeconds)}s`);

  // Drain: every send acknowledged (or refused) and every acknowledged
  // message seen live by its recipient, bounded.
  const drainUntil = now() + (cfg.drainSeconds || 15) * 1000;
  const outstanding = () => {
    let n = 0;
    for (const s of socks) n += s.unacked.size;
    for (const rec of sends) if (rec.ackedId !== null && !rec.ignored && !socks[rec.recipientSock].live.has(rec.ackedId)) n += 1;
    return n;
  };
  while (outstanding() > 0 && now() < drainUntil) await sleep(100);
  const drainSeconds = r3((now() - t0) / 1000 - sendSeconds);
  stopping = true; // from here on nothing counts as live
  clearInterval(sampler);
  samples.push(sample(socks, startedCpu));
  const wall = (now() - t0) / 1000;

  // Final sync on every socket: what the live path missed, recovered as a client would.
  const syncStarted = now();
  const syncOk = await Promise.all(socks.map((s) => s.sync()));
  report.final_sync = { seconds: r3((now() - syncStarted) / 1000), failed_sockets: syncOk.filter((x) => !x).length };

  const latencyPerMinute = [];
  const minutes = Math.max(lat.length, ackLat.length);
  for (let m = 0; m < minutes; m++) {
    latencyPerMinute.push({ minute: m, delivery_ms: percentiles(lat[m] || []), ack_ms: percentiles(ackLat[m] || []) });
  }
  Object.assign(report, {
    rate: cfg.rate, seconds: cfg.seconds, scheduled: total, send_seconds: r3(sendSeconds), drain_seconds: drainSeconds,
    wall_seconds: r3(wall), counters,
    latency_ms: percentiles(lat.flat()), ack_latency_ms: percentiles(ackLat.flat()), latency_per_minute: latencyPerMinute,
    samples,
    generator: { cpu_seconds: r3(genCpu() - g0), cpu_pct: Math.round(((genCpu() - g0) / wall) * 1000) / 10,
      rss_bytes: process.memoryUsage().rss },
    // Compact per-message and per-socket records for the database comparison in bench/soak.py.
    sends: sends.map((r) => [r.cid, r.conv, r.sender, r.recipient, r.ackedId, r.seq, r.attempts, r.ackErr, r.ackMismatch || null]),
    sockets: socks.map((s) => ({ user_id: s.userId, live: [...s.live.entries()], synced: [...s.synced] })),
  });
  for (const s of socks) if (s.ws) s.ws.terminate();
  fs.writeFileSync(reportPath, JSON.stringify(report));
  process.exit(0);
}

setTimeout(() => { log('hard deadline reached'); process.exit(2); }, (cfg.maxSeconds || 900) * 1000);
main().catch((err) => { process.stderr.write(`[soak] ${err.stack}\n`); process.exit(1); });
