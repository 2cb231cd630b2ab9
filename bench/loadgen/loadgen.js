#!/usr/bin/env node
// Open-loop load generator for the chat server.
//
// One Node process holds thousands of sockets speaking raw Engine.IO v4 /
// Socket.IO v4 over `ws` (a full socket.io-client costs several times more
// memory and CPU per connection). Sends follow a fixed schedule: a message's
// latency is measured from the time it was *due*, not from when the generator
// got round to it, so a stalled server or generator cannot hide its backlog
// (no coordinated omission). Every timestamp is taken and read in this
// process. The generator reports its own CPU so a saturated generator shows.
//
// Usage: node loadgen.js <config.json> [report.json]
// The config is written by bench/run.py; see README.md for its fields.
'use strict';

const fs = require('fs');
const http = require('http');
const { performance } = require('perf_hooks');
const WebSocket = require('ws');

const NS = '/chat';
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const reportPath = process.argv[3];
const startedWall = Date.now();
const hardDeadline = startedWall + (cfg.maxSeconds || 300) * 1000;

// ------------------------------------------------------------------ helpers

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentiles(values) {
  if (!values.length) return { count: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null };
  const v = Float64Array.from(values).sort();
  const at = (q) => v[Math.min(v.length - 1, Math.floor(q * v.length))];
  let sum = 0;
  for (const x of v) sum += x;
  const r3 = (x) => Math.round(x * 1000) / 1000;
  return {
    count: v.length, p50: r3(at(0.5)), p90: r3(at(0.9)), p99: r3(at(0.99)), p999: r3(at(0.999)),
    max: r3(v[v.length - 1]), mean: r3(sum / v.length),
  };
}

// CPU seconds (user+system) of the server processes, from /proc.
const TICK = cfg.clockTicks || 100;
function serverCpu() {
  let total = 0;
  for (const pid of cfg.serverPids || []) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / TICK;
    } catch (e) { /* process gone: reported as a disconnect storm anyway */ }
  }
  return total;
}
// Nanoseconds the server processes spent waiting for a CPU while runnable
// (/proc/<pid>/schedstat): CPU taken by other work on the machine, which shows
// as latency that is not the server's.
function serverRunqueueWait() {
  let total = 0;
  for (const pid of cfg.serverPids || []) {
    try { total += Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]); } catch (e) { /* gone */ }
  }
  return total / 1e9;
}
// Seconds during which some task on the machine waited for a CPU (PSI, cumulative).
function cpuPressure() {
  try {
    const m = /^some .*total=(\d+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) / 1e6 : null;
  } catch (e) { return null; }
}
function pressureAvg10() {
  try {
    const m = /^some avg10=([\d.]+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch (e) { return null; }
}
// Wait (bounded) until the machine's CPU pressure over the last 10 s is below q.maxPressurePct.
async function waitQuiet(q) {
  if (!q) return null;
  const t0 = Date.now();
  let p = pressureAvg10();
  while (p !== null && p > q.maxPressurePct && Date.now() - t0 < q.waitSeconds * 1000 && Date.now() < hardDeadline) {
    await sleep(1000);
    p = pressureAvg10();
  }
  return { cpu_pressure_avg10: p, waited_seconds: Math.round((Date.now() - t0) / 100) / 10 };
}
function serverRss() {
  let total = 0;
  for (const pid of cfg.serverPids || []) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch (e) { /* gone */ }
  }
  return total;
}
function genCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ------------------------------------------------------------------ sockets

let ackCounter = 0;
const pendingAcks = new Map(); // ack id -> {clientId, due}
const sent = new Map(); // client_id -> {due, sender, want, got, step}
let stepStats = null; // the step being measured
const counters = { disconnects: 0, connectErrors: {}, unexpected: 0 };

class Sock {
  constructor(index, spec) {
    this.index = index;
    this.token = spec.token;
    this.base = (spec.url || cfg.url).replace(/^http/, 'ws');
    this.ready = false;
    this.ws = null;
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
        const type = data[0];
        if (type === '0') { ws.send(`40${NS},${JSON.stringify({ token: this.token })}`); return; }
        if (type !== '4') return;
        this.onPacket(data, done);
      });
      ws.on('error', (err) => done(false, err.code || err.message));
      ws.on('close', () => {
        if (this.ready) counters.disconnects += 1;
        this.ready = false;
        done(false, 'closed');
      });
      setTimeout(() => done(false, 'timeout'), (cfg.connectTimeoutSeconds || 30) * 1000);
    });
  }

  onPacket(data, done) {
    // Socket.IO packets inside Engine.IO message packets: 4<type>/chat,[ack]<json>
    const kind = data[1];
    const comma = data.indexOf(',');
    const body = data.slice(comma + 1);
    if (kind === '2') {
      if (body.startsWith('["message:new"')) this.onMessageNew(body);
      else if (body.startsWith('["ready"')) { this.ready = true; done(true); }
    } else if (kind === '3') {
      const bracket = body.indexOf('[');
      const id = Number(body.slice(0, bracket));
      const pending = pendingAcks.get(id);
      if (!pending) return;
      pendingAcks.delete(id);
      const t = now();
      const ack = JSON.parse(body.slice(bracket))[0];
      const st = pending.step;
      if (st.closed) return;
      if (ack && ack.ok) {
        st.acked += 1;
        st.ackLat.push(t - pending.due);
        // null: every delivery (and the echo) arrived before the ack itself.
        st.ackedRecs.push(sent.get(pending.clientId) || null);
      } else {
        const code = (ack && ack.error && ack.error.code) || 'unknown';
        st.ackErrors[code] = (st.ackErrors[code] || 0) + 1;
      }
    } else if (kind === '4') {
      done(false, 'refused:' + body.slice(0, 80));
    }
  }

  onMessageNew(body) {
    const t = now();
    const msg = JSON.parse(body)[1].message;
    const rec = sent.get(msg.client_id);
    if (!rec) { counters.unexpected += 1; return; }
    if (this.index === rec.sender) {
      rec.echo = true; // the sender's own echo: expected, not a delivery we count
    } else {
      const st = rec.step;
      st.delivered += 1;
      if (!st.closed) st.lat.push(t - rec.due); else st.late += 1;
      rec.got += 1;
    }
    if (rec.got >= rec.want && rec.echo) sent.delete(msg.client_id);
  }

  emit(event, payload, clientId, due, step) {
    const id = ackCounter++;
    pendingAcks.set(id, { clientId, due, step });
    this.ws.send(`42${NS},${id}${JSON.stringify([event, payload])}`);
  }
}

async function connectAll(socks) {
  const concurrency = cfg.connectConcurrency || 200;
  const rssBefore = serverRss();
  const cpuBefore = serverCpu();
  const t0 = now();
  let next = 0;
  let ok = 0;
  const lat = [];
  async function worker() {
    while (next < socks.length && Date.now() < hardDeadline) {
      const s = socks[next++];
      const t = now();
      if (await s.connect()) { ok += 1; lat.push(now() - t); }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, socks.length) }, worker));
  const seconds = (now() - t0) / 1000;
  await sleep((cfg.settleSeconds || 2) * 1000); // let presence/ready work finish before measuring memory
  const rssAfter = serverRss();
  return {
    sockets: socks.length, connected: ok, failed: socks.length - ok, errors: counters.connectErrors,
    seconds: Math.round(seconds * 1000) / 1000, rate_per_s: Math.round(ok / seconds),
    connect_latency_ms: percentiles(lat),
    server_rss_before_bytes: rssBefore, server_rss_after_bytes: rssAfter,
    rss_per_connection_kib: ok ? Math.round(((rssAfter - rssBefore) / ok / 1024) * 10) / 10 : null,
    server_cpu_us_per_connect: ok ? Math.round(((serverCpu() - cpuBefore) * 1e6) / ok) : null,
  };
}

// ------------------------------------------------------------------ open-loop schedule

// Calls fire(i, due) for i = 0.. at `rate` per second for `seconds`, with
// `due` the scheduled time. A late tick fires everything already due.
async function openLoop(rate, seconds, fire) {
  const t0 = now() + 5;
  const total = Math.floor(rate * seconds);
  const interval = 1000 / rate;
  let i = 0;
  while (i < total && Date.now() < hardDeadline) {
    const t = now();
    while (i < total && t0 + i * interval <= t) { fire(i, t0 + i * interval); i += 1; }
    const wait = t0 + i * interval - now();
    if (wait > 1) await sleep(Math.min(wait, 20) - 0.5); else await new Promise(setImmediate);
  }
  return i;
}

function newStep(name, rate, seconds, perMessage) {
  return {
    name, target_rate: rate, seconds, perMessage, sent: 0, acked: 0, ackErrors: {}, delivered: 0, late: 0,
    lat: [], ackLat: [], ackedRecs: [], closed: false,
  };
}

async function measure(st, body) {
  const cpu0 = serverCpu();
  const rq0 = serverRunqueueWait();
  const psi0 = cpuPressure();
  const g0 = genCpu();
  const t0 = now();
  const disc0 = counters.disconnects;
  await body();
  const sendSeconds = (now() - t0) / 1000;
  // Drain: wait for outstanding deliveries, bounded.
  const expected = st.sent * st.perMessage;
  const drainUntil = now() + (cfg.drainSeconds || 5) * 1000;
  const answered = () => st.acked + Object.values(st.ackErrors).reduce((a, b) => a + b, 0);
  while ((st.delivered < expected || (st.waitAcks && answered() < st.sent)) && now() < drainUntil) await sleep(20);
  st.closed = true;
  // Work the server defers past the send (the push outbox's delay and poll) is
  // still this step's: the CPU reading waits for it.
  if (st.tailSeconds) await sleep(st.tailSeconds * 1000);
  // The guarantee under test: an acknowledged message reaches every recipient.
  // Sends refused above capacity (unavailable) are the client's to retry, not losses.
  const ackedDelivered = st.ackedRecs.filter((rec) => rec === null || rec.got >= rec.want).length;
  const wall = (now() - t0) / 1000;
  const cpu = serverCpu() - cpu0;
  const g = genCpu() - g0;
  const out = {
    name: st.name, target_rate: st.target_rate, seconds: st.seconds,
    achieved_send_rate: Math.round(st.sent / sendSeconds),
    sent: st.sent, acked: st.acked, ack_errors: st.ackErrors,
    acked_pct: st.sent ? Math.round((st.acked / st.sent) * 1e6) / 1e4 : null,
    expected_deliveries: expected, delivered: st.delivered,
    delivered_pct: expected ? Math.round((st.delivered / expected) * 1e6) / 1e4 : null,
    acked_delivered_pct: st.acked ? Math.round((ackedDelivered / st.acked) * 1e6) / 1e4 : null,
    deliveries_per_s: Math.round(st.delivered / sendSeconds),
    latency_ms: percentiles(st.lat), ack_latency_ms: percentiles(st.ackLat),
    server_cpu_pct: Math.round((cpu / wall) * 1000) / 10,
    server_cpu_seconds: Math.round(cpu * 1000) / 1000, wall_seconds: Math.round(wall * 1000) / 1000,
    server_runqueue_wait_pct: Math.round(((serverRunqueueWait() - rq0) / wall) * 1000) / 10,
    cpu_pressure_pct: psi0 === null ? null : Math.round(((cpuPressure() - psi0) / wall) * 1000) / 10,
    server_cpu_us_per_msg: st.sent ? Math.round((cpu * 1e6) / st.sent) : null,
    server_cpu_us_per_delivery: st.delivered ? Math.round((cpu * 1e6) / st.delivered) : null,
    server_rss_bytes: serverRss(),
    generator_cpu_pct: Math.round((g / wall) * 1000) / 10,
    disconnects: counters.disconnects - disc0,
  };
  // Forget what is still outstanding so the next step starts clean.
  for (const [k, rec] of sent) if (rec.step === st) sent.delete(k);
  for (const [k, p] of pendingAcks) if (p.step === st) pendingAcks.delete(k);
  return out;
}

function passes(step, judge) {
  const c = cfg.criteria || { deliveredPct: 99.99, p99Ms: 50 };
  if (judge === 'ack') {
    // Recipients offline (bench/push.py): the sender's ack is the send path's latency.
    return step.acked_pct !== null && step.acked_pct >= c.deliveredPct &&
      step.ack_latency_ms.p99 !== null && step.ack_latency_ms.p99 <= c.p99Ms;
  }
  return step.delivered_pct !== null && step.delivered_pct >= c.deliveredPct &&
    step.latency_ms.p99 !== null && step.latency_ms.p99 <= c.p99Ms;
}

// ------------------------------------------------------------------ workloads

async function messageSteps(socks, plan) {
  // plan: {pairs: [{sender, recipient|null, conversation_id, want}], steps: [{rate, seconds}], stopAfterFail,
  //        judge: 'delivery' (default) | 'ack', tailSeconds, idleSeconds}
  const results = [];
  let idle = null;
  if (plan.idleSeconds) {
    // The server's CPU with nothing offered (heartbeats, the push loop's polls), to net out.
    const cpu0 = serverCpu();
    const t0 = now();
    await sleep(plan.idleSeconds * 1000);
    const wall = (now() - t0) / 1000;
    idle = { seconds: Math.round(wall * 1000) / 1000, server_cpu_pct: Math.round(((serverCpu() - cpu0) / wall) * 1000) / 10 };
  }
  let best = null;
  let fails = 0;
  const bodyPad = 'x'.repeat(Math.max(0, (cfg.bodyChars || 40) - 10));
  const runStep = async (name, rate, seconds) => {
    const st = newStep(name, rate, seconds, plan.pairs[0].want);
    st.tailSeconds = plan.tailSeconds || 0;
    st.waitAcks = plan.judge === 'ack'; // judged by acks: the last ones in flight are still the step's
    const res = await measure(st, async () => {
      st.sent = await openLoop(rate, seconds, (i, due) => {
        const pair = plan.pairs[i % plan.pairs.length];
        const clientId = `${name}-${i}`;
        sent.set(clientId, { due, sender: pair.sender, want: pair.want, got: 0, echo: false, step: st });
        const s = socks[pair.sender];
        if (!s.ready) return; // counted as sent and never delivered
        s.emit('message:send', { conversation_id: pair.conversation_id, body: `${i} ${bodyPad}`, client_id: clientId }, clientId, due, st);
      });
    });
    res.passes = passes(res, plan.judge);
    results.push(res);
    log(`${name}: rate ${rate}/s sent ${res.sent} delivered ${res.delivered_pct}% (of acked ${res.acked_delivered_pct}%) p50 ${res.latency_ms.p50} p99 ${res.latency_ms.p99} ms ack p99 ${res.ack_latency_ms.p99} ms ` +
      `server cpu ${res.server_cpu_pct}% (${res.server_cpu_us_per_msg} us/msg, runqueue wait ${res.server_runqueue_wait_pct}%) ` +
      `gen cpu ${res.generator_cpu_pct}% cpu pressure ${res.cpu_pressure_pct}% errors ${JSON.stringify(res.ack_errors)}`);
    await sleep((cfg.pauseSeconds || 1) * 1000);
    return res;
  };
  const q = plan.quiet; // {maxPressurePct, waitSeconds, retryAboveRunqueuePct, retries} or none
  for (const [k, step] of plan.steps.entries()) {
    if (Date.now() > hardDeadline) break;
    let res = null;
    for (let attempt = 0; ; attempt += 1) {
      const before = await waitQuiet(q);
      res = await runStep(attempt ? `s${k}r${attempt}` : `s${k}`, step.rate, step.seconds);
      res.attempt = attempt;
      res.quiet_before = before;
      // A step that failed while the server waited for a CPU other work held says
      // little about the server: run it again (bounded), once the machine is quieter.
      res.contended = Boolean(q) && res.server_runqueue_wait_pct > q.retryAboveRunqueuePct;
      if (res.passes || !res.contended || attempt >= q.retries || Date.now() > hardDeadline) break;
      res.superseded = true;
      log(`${res.name}: failed while the server waited ${res.server_runqueue_wait_pct}% of the time for a CPU: again`);
    }
    if (res.passes) best = res; else fails += 1;
    if (fails >= (plan.stopAfterFail || 2)) break;
  }
  let quarter = null;
  if (plan.quarterSeconds && best && Date.now() < hardDeadline) {
    quarter = await runStep('quarter', Math.max(1, Math.round(best.target_rate / 4)), plan.quarterSeconds);
  }
  return { steps: results, capacity: best ? best.target_rate : 0, capacity_step: best, quarter, idle };
}

async function historyWorkload(plan) {
  // plan: {token, pages: [[conversation_id, before]], steps: [{rate, seconds}]}
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.connections || 8 });
  const u = new URL(cfg.url);
  const results = [];
  for (const [k, step] of plan.steps.entries()) {
    const lat = [];
    let errors = 0;
    let done = 0;
    let issued = 0;
    const cpu0 = serverCpu();
    const g0 = genCpu();
    const t0 = now();
    await openLoop(step.rate, step.seconds, (i, due) => {
      issued += 1;
      const [cid, before] = plan.pages[i % plan.pages.length];
      const req = http.get({
        host: u.hostname, port: u.port, agent, path: `/api/v1/conversations/${cid}/messages?before=${before}&limit=50`,
        headers: { Authorization: `Bearer ${plan.token}` },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          done += 1;
          const t = now();
          if (res.statusCode !== 200) { errors += 1; return; }
          const page = JSON.parse(Buffer.concat(chunks).toString());
          if (!page.messages || page.messages.length !== 50 || page.messages[49].seq !== before - 1) errors += 1;
          else lat.push(t - due);
        });
      });
      req.on('error', () => { done += 1; errors += 1; });
    });
    const drainUntil = now() + 5000;
    while (done < issued && now() < drainUntil) await sleep(10);
    const wall = (now() - t0) / 1000;
    const res = {
      name: `h${k}`, target_rate: step.rate, seconds: step.seconds, requests: issued, ok: lat.length, errors,
      latency_ms: percentiles(lat), server_cpu_us_per_request: issued ? Math.round(((serverCpu() - cpu0) * 1e6) / issued) : null,
      generator_cpu_pct: Math.round(((genCpu() - g0) / wall) * 1000) / 10,
    };
    log(`history ${res.name}: ${step.rate}/s ok ${res.ok}/${issued} p50 ${res.latency_ms.p50} p99 ${res.latency_ms.p99} ms`);
    results.push(res);
  }
  agent.destroy();
  return { steps: results };
}

function log(line) { if (!cfg.quiet) process.stderr.write(`[loadgen] ${line}\n`); }

async function main() {
  const report = { workload: cfg.workload, node: process.version, started_at: new Date(startedWall).toISOString() };
  const watchdog = setTimeout(() => { log('hard deadline reached'); finish(report, 2); }, (cfg.maxSeconds || 300) * 1000 + 30000);
  const g0 = genCpu();
  const t0 = now();
  const socks = (cfg.sockets || []).map((spec, i) => new Sock(i, spec));
  if (socks.length) {
    report.connect = await connectAll(socks);
    log(`connected ${report.connect.connected}/${socks.length} in ${report.connect.seconds}s ` +
      `(${report.connect.rate_per_s}/s), ${report.connect.rss_per_connection_kib} KiB/conn`);
  }
  if (cfg.holdSeconds) {
    const d0 = counters.disconnects;
    await sleep(cfg.holdSeconds * 1000);
    report.hold = { seconds: cfg.holdSeconds, disconnects: counters.disconnects - d0, server_rss_bytes: serverRss() };
  }
  if (cfg.messages) Object.assign(report, await messageSteps(socks, cfg.messages));
  if (cfg.history) report.history = await historyWorkload(cfg.history);
  report.unexpected_messages = counters.unexpected;
  report.generator = { cpu_seconds: Math.round(genCpu() - g0), wall_seconds: Math.round((now() - t0) / 1000), rss_bytes: process.memoryUsage().rss };
  report.generator.cpu_pct = Math.round((report.generator.cpu_seconds / Math.max(1, report.generator.wall_seconds)) * 1000) / 10;
  clearTimeout(watchdog);
  for (const s of socks) if (s.ws) s.ws.terminate();
  finish(report, 0);
}

function finish(report, code) {
  const text = JSON.stringify(report, null, 1);
  if (reportPath) fs.writeFileSync(reportPath, text); else process.stdout.write(text + '\n');
  process.exit(code);
}

main().catch((err) => { process.stderr.write(`[loadgen] ${err.stack}\n`); process.exit(1); });
