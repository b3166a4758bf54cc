/**
 * Entry of the web UI bundle (built by web/build.ts, served by src/server/routes/web.ts).
 * `<base>/view/<id>` is the player; anything else the admin pages.
 */
import { startAdmin } from "./admin/admin.ts";
import { Api } from "./lib/api.ts";
import { currentToken, pageLocation } from "./lib/location.ts";
import type { Player } from "./player/player.ts";
import { startViewer } from "./viewer-page.ts";

declare global {
  interface Window {
    /** The player of a viewer page: for debugging from the console, and for the browser tests. */
    mlstreamPlayer?: Player;
  }
}

const app = document.getElementById("app")!;
const where = pageLocation();
if (where.streamerId !== undefined) {
  window.mlstreamPlayer = startViewer(app, where.root, where.streamerId);
} else {
  startAdmin(app, new Api(where.root, currentToken()));
}
