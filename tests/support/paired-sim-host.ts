/**
 * A sim host started on loopback with a client already paired to it (PIN given at start) and the
 * first app's id: the setup of every test that drives a MoonlightSession directly.
 */
import { createClientIdentity } from "../../src/moonlight/http/identity.ts";
import { NvHttpClient } from "../../src/moonlight/http/nvhttp.ts";
import { SimHost, type SimHostOptions } from "../../src/sim-host/sim-host.ts";

export interface PairedSimHost {
  host: SimHost;
  client: NvHttpClient;
  appId: number;
}

export async function startPairedSimHost(options: SimHostOptions & { pin: string }): Promise<PairedSimHost> {
  const host = new SimHost(options);
  const { httpPort } = await host.start();
  const client = new NvHttpClient({ address: "127.0.0.1", httpPort, identity: createClientIdentity() });
  await client.pair({ pin: options.pin });
  const appId = (await client.appList())[0]!.id;
  return { host, client, appId };
}
