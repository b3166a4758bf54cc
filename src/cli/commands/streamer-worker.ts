/**
 * `mlstream __streamer`: the child-process mode `serve` starts for each streamer (hidden; it is
 * driven over IPC, not by hand).
 */
import { runStreamerWorker } from "../../streamer/worker.ts";
import type { Register } from "../command.ts";

export const registerStreamerWorker: Register = (cli, bind) => {
  cli.command("__streamer", "").action(bind(() => runStreamerWorker()));
};
