// The Traffic view: rates and latency quantiles computed from the frames'
// counters (totals since the node started) over the last few minutes.
// A frame from another node, or counters that went down (the node
// restarted), start the history over: differences across them mean nothing.

import { bucketDeltas, quantile } from './quantiles.js';
import { drawChart } from './chart.js';
import { byId, millis } from './dom.js';

/** How much history the charts show. */
export const WINDOW_MS = 5 * 60 * 1000;
/** The shortest span a chart shows. */
export const MIN_SPAN_MS = 30 * 1000;
/** The window each latency quantile is computed over. */
export const LATENCY_WINDOW_MS = 10 * 1000;

export class Traffic {
  constructor() {
    this.samples = [];
    this.points = [];
  }

  /** Adds the frame received at `atMs` (the page's clock). */
  push(frame, atMs) {
    const sample = {
      atMs,
      node: frame.node,
      revision: frame.revision,
      reads: frame.traffic.reads,
      proposal: frame.traffic.proposal_latency,
      fsync: frame.traffic.fsync_latency,
    };
    const last = this.samples[this.samples.length - 1];
    if (last && (last.node !== sample.node || sample.revision < last.revision || sample.reads < last.reads)) {
      this.samples = [];
      this.points = [];
    }
    this.samples.push(sample);
    while (this.samples.length > 2 && this.samples[0].atMs < atMs - WINDOW_MS - LATENCY_WINDOW_MS) {
      this.samples.shift();
    }
    if (last && this.samples.length > 1) this.points.push(this.point(last, sample));
    while (this.points.length && this.points[0].atMs < atMs - WINDOW_MS) this.points.shift();
  }

  /** Rates since `previous`, quantiles over the latency window. */
  point(previous, sample) {
    const seconds = Math.max(0.001, (sample.atMs - previous.atMs) / 1000);
    const base = this.samples.find((s) => s.atMs >= sample.atMs - LATENCY_WINDOW_MS) ?? previous;
    const from = base === sample ? previous : base;
    const proposal = bucketDeltas(from.proposal, sample.proposal);
    const fsync = bucketDeltas(from.fsync, sample.fsync);
    const bounds = sample.proposal.bounds_seconds;
    return {
      atMs: sample.atMs,
      writes: (sample.revision - previous.revision) / seconds,
      reads: (sample.reads - previous.reads) / seconds,
      proposalP50: quantile(bounds, proposal, 0.5),
      proposalP99: quantile(bounds, proposal, 0.99),
      fsyncP50: quantile(sample.fsync.bounds_seconds, fsync, 0.5),
      fsyncP99: quantile(sample.fsync.bounds_seconds, fsync, 0.99),
    };
  }

  /** Draws the figures and charts as of `nowMs`. */
  render(nowMs) {
    const latest = this.points[this.points.length - 1];
    byId('writes-rate').textContent = latest ? rate(latest.writes) : '0';
    byId('reads-rate').textContent = latest ? rate(latest.reads) : '0';
    byId('proposal-p50').textContent = millis(latest?.proposalP50);
    byId('proposal-p99').textContent = millis(latest?.proposalP99);
    byId('fsync-p50').textContent = millis(latest?.fsyncP50);
    byId('fsync-p99').textContent = millis(latest?.fsyncP99);
    const series = (field, scale = 1) => this.points.map((p) => ({
      t: p.atMs,
      v: p[field] === null ? null : p[field] * scale,
    }));
    // Until there are five minutes of history, the charts span what there
    // is (at least MIN_SPAN_MS), so a fresh page does not draw a sliver.
    const first = this.points[0]?.atMs ?? nowMs;
    const view = { nowMs, windowMs: Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, nowMs - first)) };
    drawChart(byId('chart-rates'), [
      { label: 'writes/s', color: '#2563eb', points: series('writes') },
      { label: 'reads/s', color: '#15803d', points: series('reads') },
    ], view);
    drawChart(byId('chart-proposal'), [
      { label: 'p50', color: '#2563eb', points: series('proposalP50', 1000) },
      { label: 'p99', color: '#b45309', points: series('proposalP99', 1000) },
    ], view);
    drawChart(byId('chart-fsync'), [
      { label: 'p50', color: '#2563eb', points: series('fsyncP50', 1000) },
      { label: 'p99', color: '#b45309', points: series('fsyncP99', 1000) },
    ], view);
  }
}

function rate(perSecond) {
  return perSecond >= 100 ? String(Math.round(perSecond)) : perSecond.toFixed(1);
}
