// Serves the sample desktop on http://127.0.0.1:3000 (PORT sets another port), with Streams and
// ChatJS from this folder's node_modules (npm install first). Open
//   http://127.0.0.1:3000/?ccp=http://127.0.0.1:8080/ccp-v2/
// with Switchboard listening on 8080.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** The files of the desktop, by path: the page, its script, and the two libraries from npm. */
export function desktopFiles(modules = join(here, "node_modules")) {
  const file = (type, path) => [type, readFileSync(path)];
  return {
    "/": file("text/html; charset=utf-8", join(here, "index.html")),
    "/desktop.js": file("text/javascript; charset=utf-8", join(here, "desktop.js")),
    "/desktop.css": file("text/css; charset=utf-8", join(here, "desktop.css")),
    "/lib/connect-streams.js": file("text/javascript; charset=utf-8",
      join(modules, "amazon-connect-streams/release/connect-streams.js")),
    "/lib/amazon-connect-chat.js": file("text/javascript; charset=utf-8",
      join(modules, "amazon-connect-chatjs/dist/amazon-connect-chat.js")),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = desktopFiles();
  const port = Number(process.env.PORT || 3000);
  createServer((request, response) => {
    const found = files[new URL(request.url, "http://x").pathname];
    if (!found) { response.writeHead(404).end(); return; }
    response.writeHead(200, { "content-type": found[0] }).end(found[1]);
  }).listen(port, "127.0.0.1", () => console.log(`the desktop is on http://127.0.0.1:${port}/`));
}
