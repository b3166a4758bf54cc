/**
 * /metrics in the Prometheus text format (prom-client). Values are read from the supervisor at
 * scrape time, so nothing is counted twice and the hot path stays untouched.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { StreamerSupervisor } from "./streamer-supervisor.ts";

export function createMetrics(supervisor: StreamerSupervisor): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "mlstream_" });
  const perStreamer = ["streamer"] as const;

  new Gauge({
    name: "mlstream_streamers",
    help: "Streamers by status",
    labelNames: ["status"],
    registers: [registry],
    collect() {
      for (const [status, count] of Object.entries(supervisor.statusCounts())) this.set({ status }, count);
    },
  });
  new Gauge({
    name: "mlstream_viewers",
    help: "Connected viewers per streamer",
    labelNames: perStreamer,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of supervisor.list()) this.set({ streamer: s.id }, s.viewers.length);
    },
  });
  new Gauge({
    name: "mlstream_gateway_latency_p99_seconds",
    help: "Frame complete → last RTP packet handed to the last viewer, 99th percentile of recent frames",
    labelNames: perStreamer,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of supervisor.list()) if (s.gateway_latency_ms) this.set({ streamer: s.id }, s.gateway_latency_ms.p99 / 1000);
    },
  });

  // Totals the streamer children report; exported as counters (they only grow per child life).
  const counters: [string, string, (c: NonNullable<ReturnType<StreamerSupervisor["list"]>[number]["counters"]>) => number][] = [
    ["mlstream_video_bytes_total", "Video bytes received from the host", (c) => c.videoBytes],
    ["mlstream_frames_total", "Video frames received from the host", (c) => c.framesEmitted],
    ["mlstream_frames_dropped_total", "Frames dropped waiting for a reference", (c) => c.framesDropped],
    ["mlstream_frames_lost_total", "Frames that could not be reassembled", (c) => c.framesLost],
    ["mlstream_fec_recoveries_total", "Video shards rebuilt with Reed-Solomon", (c) => c.fecRecoveries],
    ["mlstream_idr_requests_total", "IDR requests sent to the host", (c) => c.idrRequests],
    ["mlstream_frames_fanned_out_total", "Frames written to viewers", (c) => c.frames_fanned_out],
    ["mlstream_malformed_datagrams_total", "Datagrams from the host that were dropped as malformed", (c) => c.malformedDatagrams],
  ];
  for (const [name, help, read] of counters) {
    new Counter({
      name,
      help,
      labelNames: perStreamer,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of supervisor.list()) if (s.counters) this.inc({ streamer: s.id }, read(s.counters));
      },
    });
  }
  new Counter({
    name: "mlstream_streamer_restarts_total",
    help: "Streamer processes restarted after a crash",
    labelNames: perStreamer,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of supervisor.list()) this.inc({ streamer: s.id }, s.restarts);
    },
  });
  return registry;
}
