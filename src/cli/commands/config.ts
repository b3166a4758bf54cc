/** `mlstream config print`: the effective configuration, where each value came from, secrets masked. */
import { describeConfig, envNameOf } from "../../core/config.ts";
import { dispatch, type Register } from "../command.ts";
import { printJson, printTable } from "../output.ts";

export const registerConfig: Register = (cli, bind) => {
  cli
    .command("config <action>", "Configuration: 'config print' shows the effective settings")
    .example("mlstream config print --json")
    .action(
      bind(async (ctx, action: string) =>
        dispatch("config", action, {
          print: () => {
            const described = describeConfig(ctx.loaded);
            if (ctx.json) {
              printJson({ file: ctx.loaded.file ?? null, values: described });
              return;
            }
            process.stderr.write(`config file: ${ctx.loaded.file ?? "(none)"}\n`);
            printTable(
              ["key", "value", "source", "env"],
              Object.entries(described).map(([key, { value, source }]) => [key, JSON.stringify(value), source, envNameOf(key)]),
            );
          },
        }),
      ),
    );
};
