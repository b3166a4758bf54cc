/**
 * `mlstream __streamer`: the child-process mode `serve` starts for each streamer (hidden; it is
 * driven over IPC, not by hand).
 */
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
};
