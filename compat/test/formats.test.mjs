// Read-time format conversion (spec 4.7, section 8 item 7): a `format` on a
// message read converts compatible rows and never filters. Checked three ways:
// the golden files still match what the pinned official packages encode; each
// golden message decodes to the same thread message in both runtimes; and the
// server returns exactly the golden rows to the official client, through its
// formatted persistence as the AI SDK runtime loads a thread.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { CloudMessagePersistence, createFormattedPersistence } from "assistant-cloud-0211";
import { aiSDKV6FormatAdapter } from "assistant-cloud-0211/ai-sdk";
import { CLIENTS, startServer, withLogs, apiKeyClient, uid } from "./harness.mjs";
import { GOLDEN_DIR, buildCases, comparable, decodeAiSdkV6, decodeAuiV0, expectedLoss } from "../formats/cases.mjs";

const client = CLIENTS[0];
let server;
let cloud;
const L = (fn) => withLogs(() => server, fn);

const golden = [];
before(async () => {
  for (const file of (await readdir(GOLDEN_DIR)).filter((f) => f.endsWith(".json")).sort()) {
    golden.push({ name: file.slice(0, -5), ...JSON.parse(await readFile(path.join(GOLDEN_DIR, file), "utf8")) });
  }
  server = await startServer();
  cloud = apiKeyClient(client, server, { apiKey: await server.createKey("compat-formats"), workspaceId: uid("ws-fmt") });
});
after(async () => {
  await server?.stop();
});

describe("golden files", () => {
  test("match what the pinned packages encode (node compat/formats/generate.mjs rewrites them)", () => {
    const cases = buildCases();
    assert.deepEqual(
      cases.map((c) => c.name).sort(),
      golden.map((g) => g.name),
    );
    for (const built of cases) {
      const file = golden.find((g) => g.name === built.name);
      assert.deepEqual(file["aui/v0"], built["aui/v0"], `${built.name}: aui/v0`);
      if (built.origin === "ai-sdk/v6") assert.deepEqual(file["ai-sdk/v6"], built["ai-sdk/v6"], `${built.name}: ai-sdk/v6`);
    }
  });

  test("each message decodes to the same thread message in both runtimes", () => {
    for (const g of golden) {
      const local = decodeAuiV0("m1", g["aui/v0"]);
      assert.ok(local, `${g.name}: the local runtime reads the aui/v0 row`);
      const viaAiSdk = comparable(decodeAiSdkV6("m1", g["ai-sdk/v6"]));
      // A v6 message survives its aui/v0 copy whole; a local-runtime message loses what the AI SDK cannot hold.
      const expected = comparable(g.origin === "aui/v0" ? expectedLoss(local) : local);
      assert.deepEqual(viaAiSdk, expected, g.name);
      assert.ok(viaAiSdk.content.length + viaAiSdk.attachments.length > 0, `${g.name} is not empty`);
    }
  });
});

describe("conversion on read", () => {
  const newThread = async () => (await cloud.threads.create({ last_message_at: new Date() })).thread_id;
  const post = (threadId, parentId, format, content) =>
    cloud.threads.messages.create(threadId, { parent_id: parentId, format, content }).then((r) => r.message_id);

  test(
    "aui/v0 rows read as ai-sdk/v6 are the golden messages, with ids, parents and order kept",
    L(async () => {
      const threadId = await newThread();
      const ids = [];
      let parent = null;
      for (const g of golden) {
        parent = await post(threadId, parent, "aui/v0", g["aui/v0"]);
        ids.push(parent);
      }
      const { messages } = await cloud.threads.messages.list(threadId, { format: "ai-sdk/v6" });
      assert.equal(messages.length, golden.length);
      const byId = new Map(messages.map((m) => [m.id, m]));
      golden.forEach((g, i) => {
        const row = byId.get(ids[i]);
        assert.equal(row.format, "ai-sdk/v6", g.name);
        assert.deepEqual(row.content, g["ai-sdk/v6"], g.name);
        assert.equal(row.parent_id, i === 0 ? null : ids[i - 1], g.name);
        assert.equal(row.height, i, g.name);
      });
      assert.deepEqual(
        messages.map((m) => m.id),
        [...ids].reverse(),
      );

      // Without a format (the transcript copy's inventory), and asking for the stored format: rows as stored.
      for (const query of [{}, { format: "aui/v0" }]) {
        const stored = (await cloud.threads.messages.list(threadId, query)).messages;
        assert.ok(stored.every((m) => m.format === "aui/v0"));
        assert.deepEqual(stored.at(-1).content, golden[0]["aui/v0"]);
      }
      // The project-wide list converts the same way.
      const projectWide = (await cloud.projects.threads.messages.list(threadId, { format: "ai-sdk/v6" })).messages;
      assert.deepEqual(projectWide, messages);
    }),
  );

  test(
    "format never filters: v6 rows stay, v5 rows convert, other formats pass through",
    L(async () => {
      const threadId = await newThread();
      const v6 = golden.find((g) => g.name === "v6-text-reasoning-usage")["ai-sdk/v6"];
      const a = await post(threadId, null, "aui/v0", golden.find((g) => g.name === "v6-user-text")["aui/v0"]);
      const b = await post(threadId, a, "ai-sdk/v6", v6);
      const c = await post(threadId, b, "ai-sdk/v5", { id: "old", role: "user", parts: [{ type: "text", text: "again" }] });
      const d = await post(threadId, c, "custom/v1", { anything: true });
      const { messages } = await cloud.threads.messages.list(threadId, { format: "ai-sdk/v6" });
      assert.deepEqual(
        messages.map((m) => [m.id, m.format]),
        [
          [d, "custom/v1"],
          [c, "ai-sdk/v6"],
          [b, "ai-sdk/v6"],
          [a, "ai-sdk/v6"],
        ],
      );
      assert.deepEqual(messages[1].content, { role: "user", parts: [{ type: "text", text: "again" }] });
      assert.deepEqual(messages[2].content, v6);
      assert.deepEqual(messages[0].content, { anything: true });
      // ai-sdk/v5 asked for: aui/v0 converts, v6 stays v6.
      const v5 = (await cloud.threads.messages.list(threadId, { format: "ai-sdk/v5" })).messages;
      assert.deepEqual(
        v5.map((m) => m.format),
        ["custom/v1", "ai-sdk/v5", "ai-sdk/v6", "ai-sdk/v5"],
      );
    }),
  );

  test(
    "an unreadable row is left out without failing the page or ending the history",
    L(async () => {
      const threadId = await newThread();
      const persistence = new CloudMessagePersistence(cloud);
      const history = createFormattedPersistence(persistence, aiSDKV6FormatAdapter);
      const text = (i) => ({ role: "user", content: [{ type: "text", text: `m${i}` }], metadata: { custom: {} } });
      let parent = null;
      const ids = [];
      // 205 messages, one of them unreadable near the top of the first page (the newest).
      for (let i = 0; i < 205; i++) {
        const content = i === 203 ? { role: "robot", content: [] } : text(i);
        parent = await post(threadId, parent, "aui/v0", content);
        ids.push(parent);
      }
      const firstPage = (await cloud.threads.messages.list(threadId, { format: "ai-sdk/v6", limit: 200 })).messages;
      assert.equal(firstPage.length, 200, "the page is filled past the skipped row");
      assert.ok(!firstPage.some((m) => m.id === ids[203]));

      // The AI SDK runtime's load: every readable message, oldest first.
      const loaded = await history.load(threadId);
      assert.equal(loaded.messages.length, 204);
      assert.equal(loaded.messages[0].message.parts[0].text, "m0");
      assert.equal(loaded.messages.at(-1).message.parts[0].text, "m204");
      assert.equal(loaded.messages.at(-1).parentId, ids[203]);
    }),
  );
});
