// A burst of message:send from Node's socket.io-client (default options but the
// transport): every emit of one tick, the way an outbox flushes after a tunnel.
// Over long-polling socket.io-client sends them in one POST.
//
//   node burst.mjs <base url> <token> <conversation id> <count> <polling|websocket>
//
// stdout: one JSON line {"acks": [ack, ...] in emit order, "connected": bool}
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";

const [url, token, conversationId, count, transport] = process.argv.slice(2);
const socket = io(url + "/chat", { auth: { token }, transports: [transport] });

socket.on("ready", async () => {
  const sends = [];
  for (let i = 0; i < Number(count); i++) {
    const payload = { conversation_id: Number(conversationId), body: `burst ${i}`, client_id: randomUUID() };
    sends.push(socket.timeout(10000).emitWithAck("message:send", payload).catch((error) => ({ timeout: String(error) })));
  }
  const acks = await Promise.all(sends);
  process.stdout.write(JSON.stringify({ acks, connected: socket.connected }) + "\n");
  socket.disconnect();
  process.exit(0);
});
socket.on("connect_error", (error) => {
  process.stdout.write(JSON.stringify({ connect_error: String(error.message) }) + "\n");
  process.exit(1);
});
