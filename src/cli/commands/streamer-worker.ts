/**
 * `mlstream __streamer`: the child-process mode `serve` starts for each streamer, and
 * `mlstream __fanout-shard`: the fan-out processes a streamer starts (streamer.fanout_processes).
 * Hidden; both are driven over IPC, not by hand.
 */
import { runFanoutShard } from "../../streamer/fanout-shard.ts";
import { runStreamerWorker } from "../../streamer/worker.ts";
import type { Register } from "../command.ts";

export const registerStreamerWorker: Register = (cli, bind) => {
  cli.command("__streamer", "").action(
    bind(async () => {
      const code = await runStreamerWorker();
      // Native WebRTC threads and the IPC channel would keep the process alive: the streamer is
      // done and nothing is left to flush on stdout, so end it here.
      process.exit(code);
    }),
  );
  cli.command("__fanout-shard", "").action(
    bind(async () => {
      runFanoutShard();
      // Runs until the streamer tells it to exit or goes away (fanout-shard.ts exits the process).
      await new Promise<never>(() => {});
    }),
  );
};
