// One chat device: Node's socket.io-client with its default options (no
// cookie jar: what Node apps, bots and OkHttp-like clients do), driven by a
// test through stdin/stdout, one JSON object per line.
//
//   node device.mjs <base url> <token> <default|polling|websocket>
//
// stdout: {"type": "open", "engine", "transport"}, {"type": "upgrade", "engine",
//         "transport"}, {"type": "connect", "id", "engine", "transport"}, {"type": "event", "name", "data"}, {"type":
//         "connect_error", "message"}, {"type": "disconnect", "reason"},
//         {"type": "ack", "ref", "data"}
// stdin:  {"ref": n, "emit": "<event>", "payload": {...}} (answered by an ack
//         line), {"close": true}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, token, transport = "default"] = process.argv.slice(2);
const options = { auth: { token } };
if (transport !== "default") options.transports = [transport];

const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const socket = io(url + "/chat", options);

// Each Engine.IO session (the first and every reconnection): where it starts.
socket.io.on("open", () => {
  const engine = socket.io.engine;
  say({ type: "open", engine: engine.id, transport: engine.transport.name });
  engine.on("upgrade", (upgraded) => say({ type: "upgrade", engine: engine.id, transport: upgraded.name }));
});
socket.on("connect", () => {
  const engine = socket.io.engine;
  say({ type: "connect", id: socket.id, engine: engine.id, transport: engine.transport.name });
});
socket.on("connect_error", (error) => say({ type: "connect_error", message: String(error.message) }));
socket.on("disconnect", (reason) => say({ type: "disconnect", reason }));
socket.onAny((name, data) => say({ type: "event", name, data }));

const input = createInterface({ input: process.stdin });
input.on("line", async (line) => {
  const command = JSON.parse(line);
  if (command.close) {
    socket.disconnect();
    process.exit(0);
  }
  try {
    const data = await socket.timeout(10000).emitWithAck(command.emit, command.payload);
    say({ type: "ack", ref: command.ref, data });
  } catch (error) {
    say({ type: "ack", ref: command.ref, error: String(error.message) });
  }
});
// The test closing our stdin (or dying) ends the device.
input.on("close", () => {
  socket.disconnect();
  process.exit(0);
});
