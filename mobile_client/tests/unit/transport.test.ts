import { io } from "socket.io-client";
import { describe, expect, it, vi } from "vitest";
import { Transport } from "../../src/core/transport";

/**
 * Pins the socket.io-client behaviour Transport.connect() borrows: the Manager's
 * `_reconnecting` flag is set while it waits out a reconnection delay, and a
 * disconnect() + connect() then tries again at once instead of after the delay.
 */
describe("Transport with the real socket.io-client", () => {
  it("connect() during a long reconnection delay tries again at once", async () => {
    const t = new Transport({
      baseUrl: "http://127.0.0.1:9", // nothing listens: every attempt is refused quickly
      getToken: () => "token",
      io: io,
      options: { reconnectionDelay: 60_000, reconnectionDelayMax: 60_000, randomizationFactor: 0 },
    });
    const errors: string[] = [];
    t.socket.on("connect_error", (e) => errors.push(e.message));
    try {
      t.connect();
      await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 10_000 });
      expect((t.socket.io as unknown as { _reconnecting?: boolean })._reconnecting).toBe(true);
      t.connect(); // "the network is back": without the shortcut the next try is 60 s away
      await vi.waitFor(() => expect(errors).toHaveLength(2), { timeout: 10_000 });
    } finally {
      t.disconnect();
    }
  });
});
