// Threads through the API-key strategy (spec 2.3, 4.0-4.5), plus workspace
// isolation, for both client versions.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENTS,
  startServer,
  withLogs,
  apiKeyClient,
  expectCloudError,
  assertDate,
  uid,
} from "./harness.mjs";

let server;
let apiKey;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer();
  apiKey = await server.createKey("compat-threads");
});
after(async () => {
  await server?.stop();
});

for (const client of CLIENTS) {
  describe(`threads (${client.name})`, () => {
    let cloud;
    let workspaceId;

    before(() => {
      workspaceId = uid("ws-threads");
      cloud = apiKeyClient(client, server, { apiKey, workspaceId });
    });

    test(
      "create + get returns the full thread object",
      L(async () => {
        const lastMessageAt = new Date("2026-01-02T03:04:05.678Z");
        const { thread_id } = await cloud.threads.create({
          last_message_at: lastMessageAt,
          title: "First thread",
          metadata: { topic: "bread", source: "compat" },
        });
        assert.equal(typeof thread_id, "string");
        assert.ok(thread_id.length > 0 && thread_id.length <= 48, `thread id length ${thread_id.length}`);

        const t = await cloud.threads.get(thread_id);
        assert.equal(t.id, thread_id);
        assert.equal(t.title, "First thread");
        assert.deepEqual(t.metadata, { topic: "bread", source: "compat" });
        assert.equal(t.external_id, null);
        assert.equal(t.is_archived, false);
        assert.equal(t.workspace_id, workspaceId, "workspace_id should be the caller's workspace id as sent");
        assert.equal(typeof t.project_id, "string");
        assertDate(t.created_at, "created_at");
        assertDate(t.updated_at, "updated_at");
        assert.equal(
          t.last_message_at.toISOString(),
          lastMessageAt.toISOString(),
          "last_message_at must be stored as given, with millisecond precision",
        );
      }),
    );

    test(
      "a thread created without title has title null (decoded as \"\")",
      L(async () => {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
        const t = await cloud.threads.get(thread_id);
        assert.equal(t.title, "");
        assert.equal(t.external_id, null);
        assert.equal(t.is_archived, false);
      }),
    );

    test(
      "external_id is stored and returned",
      L(async () => {
        const ext = uid("ext");
        const { thread_id } = await cloud.threads.create({
          last_message_at: new Date(),
          external_id: ext,
        });
        const t = await cloud.threads.get(thread_id);
        assert.equal(t.external_id, ext);
      }),
    );

    if (client.has.upsert) {
      test(
        "upsert with external_id returns the same thread id",
        L(async () => {
          const ext = uid("ext-upsert");
          const a = await cloud.threads.create({
            last_message_at: new Date(),
            external_id: ext,
            upsert: true,
          });
          const b = await cloud.threads.create({
            last_message_at: new Date(),
            external_id: ext,
            upsert: true,
          });
          assert.equal(b.thread_id, a.thread_id);
          const t = await cloud.threads.get(a.thread_id);
          assert.equal(t.external_id, ext);
          const listed = (await cloud.threads.list({ limit: 100 })).threads.filter(
            (x) => x.external_id === ext,
          );
          assert.equal(listed.length, 1, "upsert must not create a second thread");
        }),
      );

      test(
        "concurrent upserts of one external_id create a single thread",
        L(async () => {
          const ext = uid("ext-race");
          const results = await Promise.all(
            Array.from({ length: 8 }, () =>
              cloud.threads.create({ last_message_at: new Date(), external_id: ext, upsert: true }),
            ),
          );
          assert.equal(new Set(results.map((r) => r.thread_id)).size, 1, "all upserts answer the same thread id");
          const listed = (await cloud.threads.list({ limit: 100 })).threads.filter((x) => x.external_id === ext);
          assert.equal(listed.length, 1);
        }),
      );

      test(
        "external_id is not unique on its own; upsert returns the oldest match",
        L(async () => {
          const ext = uid("ext-dup");
          const first = await cloud.threads.create({ last_message_at: new Date(), external_id: ext });
          const second = await cloud.threads.create({ last_message_at: new Date(), external_id: ext });
          assert.notEqual(second.thread_id, first.thread_id, "a create without upsert makes a new thread");
          const up = await cloud.threads.create({ last_message_at: new Date(), external_id: ext, upsert: true });
          assert.equal(up.thread_id, first.thread_id, "upsert returns the oldest thread with that external_id");
        }),
      );

      test(
        "upsert without external_id is a 400",
        L(async () => {
          await expectCloudError(
            client,
            cloud.threads.create({ last_message_at: new Date(), upsert: true }),
            400,
            "POST /threads {upsert:true} without external_id",
          );
        }),
      );
    }

    test(
      "update changes only the fields sent: title, metadata, is_archived",
      L(async () => {
        const { thread_id } = await cloud.threads.create({
          last_message_at: new Date(),
          title: "Before",
          metadata: { keep: "me" },
        });
        const t0 = await cloud.threads.get(thread_id);

        await new Promise((r) => setTimeout(r, 5));
        const res = await cloud.threads.update(thread_id, { title: "After" });
        assert.ok(res === undefined || typeof res === "object", "update resolves to JSON or nothing");
        let t = await cloud.threads.get(thread_id);
        assert.equal(t.title, "After");
        assert.deepEqual(t.metadata, { keep: "me" }, "metadata untouched by a title update");
        assert.equal(t.is_archived, false);
        assert.ok(t.updated_at.getTime() >= t0.updated_at.getTime(), "updated_at does not go backwards");

        await cloud.threads.update(thread_id, { metadata: { keep: "changed", extra: "yes" } });
        t = await cloud.threads.get(thread_id);
        assert.deepEqual(t.metadata, { keep: "changed", extra: "yes" });
        assert.equal(t.title, "After", "title untouched by a metadata update");

        await cloud.threads.update(thread_id, { metadata: null });
        t = await cloud.threads.get(thread_id);
        assert.ok(t.metadata === null || t.metadata === undefined, `metadata:null clears it (got ${JSON.stringify(t.metadata)})`);

        const lma = new Date("2026-03-04T05:06:07.890Z");
        await cloud.threads.update(thread_id, { last_message_at: lma });
        t = await cloud.threads.get(thread_id);
        assert.equal(t.last_message_at.toISOString(), lma.toISOString());

        await cloud.threads.update(thread_id, { is_archived: true });
        t = await cloud.threads.get(thread_id);
        assert.equal(t.is_archived, true);
        assert.equal(t.title, "After");

        await cloud.threads.update(thread_id, { is_archived: false });
        t = await cloud.threads.get(thread_id);
        assert.equal(t.is_archived, false);
      }),
    );

    test(
      "list: default and is_archived=false exclude archived threads; is_archived=true lists only archived",
      L(async () => {
        const ws = uid("ws-archive");
        const c = apiKeyClient(client, server, { apiKey, workspaceId: ws });
        const active = await c.threads.create({ last_message_at: new Date(), title: "active" });
        const archived = await c.threads.create({ last_message_at: new Date(), title: "archived" });
        await c.threads.update(archived.thread_id, { is_archived: true });

        const ids = (r) => r.threads.map((t) => t.id).sort();
        assert.deepEqual(ids(await c.threads.list()), [active.thread_id]);
        assert.deepEqual(ids(await c.threads.list({ is_archived: false })), [active.thread_id]);
        const arch = await c.threads.list({ is_archived: true });
        assert.deepEqual(ids(arch), [archived.thread_id]);
        assert.equal(arch.threads[0].is_archived, true);
      }),
    );

    test(
      "list: an empty workspace answers an empty array",
      L(async () => {
        const c = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-empty") });
        assert.deepEqual((await c.threads.list()).threads, []);
        assert.deepEqual((await c.threads.list({ is_archived: true })).threads, []);
      }),
    );

    test(
      "list: limit and after paginate 25 threads newest-first with no duplicates or gaps",
      L(async () => {
        const ws = uid("ws-page");
        const c = apiKeyClient(client, server, { apiKey, workspaceId: ws });
        const base = Date.parse("2026-05-01T00:00:00.000Z");
        const created = [];
        // Two threads share each timestamp pair to exercise the id tie-break.
        for (let i = 0; i < 25; i++) {
          const { thread_id } = await c.threads.create({
            last_message_at: new Date(base + Math.floor(i / 2) * 1000),
            title: `t${i}`,
          });
          created.push(thread_id);
        }

        // The React adapter always sends limit=20 and pages only on a full page.
        const p1 = await c.threads.list({ limit: 20 });
        assert.equal(p1.threads.length, 20, "a full page of 20 when more rows exist");
        const p2 = await c.threads.list({ limit: 20, after: p1.threads.at(-1).id });
        assert.equal(p2.threads.length, 5);

        const all20 = [...p1.threads, ...p2.threads];
        assert.equal(new Set(all20.map((t) => t.id)).size, 25, "no duplicates across pages");
        assert.deepEqual(all20.map((t) => t.id).sort(), [...created].sort(), "no gaps across pages");

        // Newest first by last_message_at (then id, descending).
        for (let i = 1; i < all20.length; i++) {
          const a = all20[i - 1];
          const b = all20[i];
          assert.ok(
            a.last_message_at.getTime() >= b.last_message_at.getTime(),
            `order: ${a.last_message_at.toISOString()} before ${b.last_message_at.toISOString()}`,
          );
        }

        // Smaller pages walk the same order.
        const walked = [];
        let after;
        for (let guard = 0; guard < 20; guard++) {
          const page = await c.threads.list({ limit: 7, ...(after ? { after } : {}) });
          assert.ok(page.threads.length <= 7, `limit honoured (got ${page.threads.length})`);
          walked.push(...page.threads.map((t) => t.id));
          if (page.threads.length < 7) break;
          after = page.threads.at(-1).id;
        }
        assert.deepEqual(walked, all20.map((t) => t.id), "limit=7 pages give the same sequence as limit=20 pages");

        const limited = await c.threads.list({ limit: 5 });
        assert.equal(limited.threads.length, 5);

        const noLimit = await c.threads.list();
        assert.ok(noLimit.threads.length >= 20, `default page holds at least 20 (got ${noLimit.threads.length})`);
        assert.deepEqual(
          noLimit.threads.map((t) => t.id),
          all20.slice(0, noLimit.threads.length).map((t) => t.id),
        );
      }),
    );

    test(
      "list: an unresolvable after cursor is not an error (empty page or replay)",
      L(async () => {
        // URLSearchParams sends the space as "+" and "/" as %2F (spec 1.2).
        const res = await cloud.threads.list({ limit: 20, after: "thread gone/away" });
        assert.ok(Array.isArray(res.threads));
      }),
    );

    test(
      "list: a thread moves to the top when a message is stored",
      L(async () => {
        const ws = uid("ws-bump");
        const c = apiKeyClient(client, server, { apiKey, workspaceId: ws });
        const old = await c.threads.create({ last_message_at: new Date("2020-01-01T00:00:00.000Z") });
        const newer = await c.threads.create({ last_message_at: new Date("2021-01-01T00:00:00.000Z") });
        let ids = (await c.threads.list()).threads.map((t) => t.id);
        assert.deepEqual(ids, [newer.thread_id, old.thread_id]);
        await c.threads.messages.create(old.thread_id, {
          parent_id: null,
          format: "aui/v0",
          content: { role: "user", content: [{ type: "text", text: "bump" }] },
        });
        const t = await c.threads.get(old.thread_id);
        assert.ok(
          t.last_message_at.getTime() > Date.parse("2021-01-01T00:00:00.000Z"),
          `last_message_at advanced by a stored message (got ${t.last_message_at.toISOString()})`,
        );
        ids = (await c.threads.list()).threads.map((t) => t.id);
        assert.deepEqual(ids, [old.thread_id, newer.thread_id]);
      }),
    );

    test(
      "delete removes the thread and its messages; later calls answer 404",
      L(async () => {
        const { thread_id } = await cloud.threads.create({ last_message_at: new Date() });
        await cloud.threads.messages.create(thread_id, {
          parent_id: null,
          format: "aui/v0",
          content: { role: "user", content: [{ type: "text", text: "doomed" }] },
        });
        const res = await cloud.threads.delete(thread_id);
        assert.ok(res === undefined || typeof res === "object");
        await expectCloudError(client, cloud.threads.get(thread_id), 404, "GET deleted thread", "thread_not_found");
        const listed = (await cloud.threads.list({ limit: 100 })).threads.map((t) => t.id);
        assert.ok(!listed.includes(thread_id));
        await expectCloudError(client, cloud.threads.delete(thread_id), 404, "DELETE deleted thread", "thread_not_found");
        await expectCloudError(client, cloud.threads.update(thread_id, { title: "x" }), 404, "PUT deleted thread", "thread_not_found");
      }),
    );

    test(
      "unknown thread ids answer 404 with a JSON error, including ids that need percent-encoding",
      L(async () => {
        await expectCloudError(client, cloud.threads.get("thread_000000000doesnotexist000"), 404, "GET unknown", "thread_not_found");
        await expectCloudError(client, cloud.threads.get("thr/1"), 404, "GET thr%2F1", "thread_not_found");
        await expectCloudError(client, cloud.threads.get("a thread ?#&"), 404, "GET with space and reserved chars", "thread_not_found");
        await expectCloudError(
          client,
          cloud.threads.update("thread_000000000doesnotexist000", { title: "x" }),
          404,
          "PUT unknown",
          "thread_not_found",
        );
      }),
    );
  });

  describe(`workspace isolation (${client.name})`, () => {
    test(
      "a client of another workspace cannot see or touch the first workspace's threads",
      L(async () => {
        const a = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-a") });
        const b = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-b"), userId: "user-2" });
        const { thread_id } = await a.threads.create({ last_message_at: new Date(), title: "secret" });
        await a.threads.messages.create(thread_id, {
          parent_id: null,
          format: "aui/v0",
          content: { role: "user", content: [{ type: "text", text: "private" }] },
        });

        assert.deepEqual((await b.threads.list()).threads, []);
        assert.deepEqual((await b.threads.list({ is_archived: true })).threads, []);
        await expectCloudError(client, b.threads.get(thread_id), 404, "GET other workspace's thread", "thread_not_found");
        const msgs = await b.threads.messages.list(thread_id);
        assert.deepEqual(msgs.messages, [], "listing another workspace's messages answers an empty array");
        await expectCloudError(client, b.threads.update(thread_id, { title: "pwned" }), 404, "PUT other workspace", "thread_not_found");
        await expectCloudError(client, b.threads.delete(thread_id), 404, "DELETE other workspace", "thread_not_found");
        await expectCloudError(
          client,
          b.threads.messages.create(thread_id, {
            parent_id: null,
            format: "aui/v0",
            content: { role: "user", content: [{ type: "text", text: "inject" }] },
          }),
          404,
          "POST message into other workspace's thread",
          "thread_not_found",
        );

        const still = await a.threads.get(thread_id);
        assert.equal(still.title, "secret");
        assert.equal((await a.threads.messages.list(thread_id)).messages.length, 1);
      }),
    );
  });
}
