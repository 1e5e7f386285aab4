// Messages (spec 4.7-4.11) through the API-key strategy, both client versions.
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
  auiUser,
  auiAssistant,
} from "./harness.mjs";

let server;
let apiKey;
const L = (fn) => withLogs(() => server, fn);

before(async () => {
  server = await startServer();
  apiKey = await server.createKey("compat-messages");
});
after(async () => {
  await server?.stop();
});

/** Height desc, then created_at desc, then id desc (spec 4.7). */
function assertListOrder(messages) {
  for (let i = 1; i < messages.length; i++) {
    const a = messages[i - 1];
    const b = messages[i];
    assert.ok(a.height >= b.height, `height order: ${a.id}(h${a.height}) before ${b.id}(h${b.height})`);
    if (a.height === b.height) {
      assert.ok(
        a.created_at.getTime() >= b.created_at.getTime(),
        `created_at order within height ${a.height}: ${a.id} before ${b.id}`,
      );
    }
  }
}

for (const client of CLIENTS) {
  describe(`messages (${client.name})`, () => {
    let cloud;

    before(() => {
      cloud = apiKeyClient(client, server, { apiKey, workspaceId: uid("ws-msg") });
    });

    const newThread = async () =>
      (await cloud.threads.create({ last_message_at: new Date() })).thread_id;

    // Messages are created at least 2 ms apart so created_at orders them.
    const create = async (threadId, parentId, content, extra = {}) => {
      await new Promise((r) => setTimeout(r, 2));
      const res = await cloud.threads.messages.create(threadId, {
        parent_id: parentId,
        format: "aui/v0",
        content,
        ...extra,
      });
      assert.equal(typeof res.message_id, "string");
      assert.ok(res.message_id.length > 0 && res.message_id.length <= 48, `message id length ${res.message_id.length}`);
      assert.equal(res.run, undefined, "no lease_id key unless a lease was opened");
      return res.message_id;
    };

    test(
      "parent_id chains and branches: heights, parents, content and height-desc order",
      L(async () => {
        const t = await newThread();
        const u1 = await create(t, null, auiUser("How do I bake sourdough?"));
        const a1 = await create(t, u1, auiAssistant("Start with a starter.", { withTool: true }));
        const u2 = await create(t, a1, auiUser("How long do I proof it?"));
        const a2 = await create(t, u2, auiAssistant("About 4 to 6 hours."));
        // Regenerate a1: a sibling under u1.
        const a1b = await create(t, u1, auiAssistant("First, feed your starter."));
        // Edit u1: a sibling root.
        const u1b = await create(t, null, auiUser("How do I bake rye bread?"));

        const { messages } = await cloud.threads.messages.list(t);
        assert.equal(messages.length, 6);
        assertListOrder(messages);
        const byId = new Map(messages.map((m) => [m.id, m]));
        const expect = {
          [u1]: [null, 0],
          [a1]: [u1, 1],
          [u2]: [a1, 2],
          [a2]: [u2, 3],
          [a1b]: [u1, 1],
          [u1b]: [null, 0],
        };
        for (const [id, [parent, height]] of Object.entries(expect)) {
          const m = byId.get(id);
          assert.ok(m, `message ${id} listed`);
          assert.equal(m.parent_id, parent, `parent of ${id}`);
          assert.equal(m.height, height, `height of ${id}`);
          assert.equal(m.format, "aui/v0");
          assertDate(m.created_at, "created_at");
          assertDate(m.updated_at, "updated_at");
        }
        assert.equal(messages[0].id, a2, "the deepest message comes first");
        // Among equal heights the newest comes first.
        const roots = messages.filter((m) => m.height === 0).map((m) => m.id);
        assert.deepEqual(roots, [u1b, u1]);
        const h1 = messages.filter((m) => m.height === 1).map((m) => m.id);
        assert.deepEqual(h1, [a1b, a1]);
        // Content is returned exactly as stored.
        assert.deepEqual(byId.get(a1).content, auiAssistant("Start with a starter.", { withTool: true }));
        assert.deepEqual(byId.get(u1).content, auiUser("How do I bake sourdough?"));
        if (client.has.messageExternalId) {
          assert.equal(byId.get(u1).external_id, null, "external_id is null when none was sent");
        }

        // The format query converts at most; aui/v0 rows come back as aui/v0.
        const formatted = await cloud.threads.messages.list(t, { format: "aui/v0" });
        assert.deepEqual(
          formatted.messages.map((m) => m.id),
          messages.map((m) => m.id),
        );
      }),
    );

    test(
      "an unknown thread: create answers 404, list answers an empty array",
      L(async () => {
        await expectCloudError(
          client,
          cloud.threads.messages.create("thread_000000000doesnotexist000", {
            parent_id: null,
            format: "aui/v0",
            content: auiUser("hi"),
          }),
          404,
          "POST message to unknown thread",
          "thread_not_found",
        );
        const { messages } = await cloud.threads.messages.list("thread_000000000doesnotexist000");
        assert.deepEqual(messages, []);
      }),
    );

    test(
      "a parent_id that is not a server id is stored as a root; a foreign server id is a 400",
      L(async () => {
        const t = await newThread();
        // The client may send a never-mapped local id as parent_id (spec 4.8, parent coercion).
        const m = await create(t, "local-Vz3kqWq1", auiUser("orphan"));
        const listed = (await cloud.threads.messages.list(t)).messages.find((x) => x.id === m);
        assert.equal(listed.parent_id, null);
        assert.equal(listed.height, 0);

        const other = await newThread();
        const foreign = await create(other, null, auiUser("elsewhere"));
        await expectCloudError(
          client,
          cloud.threads.messages.create(t, { parent_id: foreign, format: "aui/v0", content: auiUser("x") }),
          400,
          "parent_id from another thread",
        );
      }),
    );

    test(
      "update replaces content, keeps parent and children, bumps updated_at",
      L(async () => {
        const t = await newThread();
        const u = await create(t, null, auiUser("Question"));
        const a = await create(t, u, auiAssistant("", { status: { type: "incomplete", reason: "cancelled" } }));
        const child = await create(t, a, auiUser("Follow-up"));
        const before = (await cloud.threads.messages.list(t)).messages.find((m) => m.id === a);

        await new Promise((r) => setTimeout(r, 5));
        const finalContent = auiAssistant("A complete answer.", { withTool: true });
        const res = await cloud.threads.messages.update(t, a, { content: finalContent });
        assert.ok(res === undefined || typeof res === "object");

        const { messages } = await cloud.threads.messages.list(t);
        const m = messages.find((x) => x.id === a);
        assert.deepEqual(m.content, finalContent);
        assert.equal(m.parent_id, u);
        assert.equal(m.height, 1);
        assert.equal(m.format, "aui/v0", "format is kept");
        assert.ok(m.updated_at.getTime() >= before.updated_at.getTime());
        assert.equal(m.created_at.toISOString(), before.created_at.toISOString());
        const c = messages.find((x) => x.id === child);
        assert.equal(c.parent_id, a, "children are kept");

        // A message that has children can be updated (spec 8.2 recommendation).
        await cloud.threads.messages.update(t, u, { content: auiUser("Question (edited in place)") });
        const uu = (await cloud.threads.messages.list(t)).messages.find((x) => x.id === u);
        assert.deepEqual(uu.content, auiUser("Question (edited in place)"));

        await expectCloudError(
          client,
          cloud.threads.messages.update(t, "msg_000000000doesnotexist000", { content: auiUser("x") }),
          404,
          "PUT unknown message",
          "message_not_found",
        );
      }),
    );

    if (client.has.messagePaging) {
      test(
        "list: limit and after walk the height-desc order with no duplicates or gaps",
        L(async () => {
          const t = await newThread();
          const ids = [];
          let parent = null;
          for (let i = 0; i < 6; i++) {
            parent = await create(t, parent, i % 2 ? auiAssistant(`a${i}`) : auiUser(`u${i}`));
            ids.push(parent);
          }
          // Two extra roots at height 0.
          ids.push(await create(t, null, auiUser("root b")));
          ids.push(await create(t, null, auiUser("root c")));

          const full = (await cloud.threads.messages.list(t)).messages;
          assert.equal(full.length, 8);
          assertListOrder(full);

          const walked = [];
          let after;
          for (let guard = 0; guard < 10; guard++) {
            const page = await cloud.threads.messages.list(t, { format: "aui/v0", limit: 3, ...(after ? { after } : {}) });
            assert.ok(page.messages.length <= 3);
            walked.push(...page.messages.map((m) => m.id));
            if (page.messages.length < 3) break;
            after = page.messages.at(-1).id;
          }
          assert.deepEqual(walked, full.map((m) => m.id));

          // An unresolvable cursor must not be a 400 (load() would throw): empty page or replay.
          const stale = await cloud.threads.messages.list(t, { format: "aui/v0", limit: 200, after: "msg gone/away" });
          assert.ok(Array.isArray(stale.messages));
          assert.equal(new Set(walked).size, 8);
          assert.deepEqual([...walked].sort(), [...ids].sort());
        }),
      );
    }

    if (client.has.messageExternalId) {
      test(
        "external_id: a repeat returns the same id; a changed body updates; a role change is a 409",
        L(async () => {
          const t = await newThread();
          const ext = uid("local");
          const body = { parent_id: null, format: "aui/v0", content: auiUser("same"), external_id: ext };
          const a = await cloud.threads.messages.create(t, body);
          const b = await cloud.threads.messages.create(t, body);
          assert.equal(b.message_id, a.message_id);
          let msgs = (await cloud.threads.messages.list(t)).messages;
          assert.equal(msgs.length, 1);
          assert.equal(msgs[0].external_id, ext);

          const c = await cloud.threads.messages.create(t, { ...body, content: auiUser("changed") });
          assert.equal(c.message_id, a.message_id);
          msgs = (await cloud.threads.messages.list(t)).messages;
          assert.equal(msgs.length, 1);
          assert.deepEqual(msgs[0].content, auiUser("changed"));

          await expectCloudError(
            client,
            cloud.threads.messages.create(t, { ...body, content: auiAssistant("now an assistant") }),
            409,
            "external_id repeat that changes content.role",
          );

          // Concurrent repeats of one external_id are serialized: one row, one id.
          const ext3 = uid("local");
          const racing = await Promise.all(
            Array.from({ length: 8 }, () =>
              cloud.threads.messages.create(t, { parent_id: null, format: "aui/v0", content: auiUser("race"), external_id: ext3 }),
            ),
          );
          assert.equal(new Set(racing.map((r) => r.message_id)).size, 1, "concurrent creates with one external_id share one id");
          msgs = (await cloud.threads.messages.list(t)).messages;
          assert.equal(msgs.filter((m) => m.external_id === ext3).length, 1);

          // parent_external_id (backend-transcript copy) resolves the parent by external id.
          const ext2 = uid("local");
          const child = await cloud.threads.messages.create(t, {
            parent_id: null,
            format: "aui/v0",
            content: auiAssistant("copied reply"),
            external_id: ext2,
            parent_external_id: ext,
          });
          const row = (await cloud.threads.messages.list(t)).messages.find((m) => m.id === child.message_id);
          assert.equal(row.parent_id, a.message_id);
          assert.equal(row.height, 1);
          assert.equal(row.external_id, ext2);
        }),
      );
    }

    if (client.has.messageDelete) {
      test(
        "delete removes the messages and their descendants; unknown ids answer 404",
        L(async () => {
          const t = await newThread();
          const u1 = await create(t, null, auiUser("keep me"));
          const a1 = await create(t, u1, auiAssistant("doomed branch root"));
          const u2 = await create(t, a1, auiUser("doomed child"));
          await create(t, u2, auiAssistant("doomed grandchild"));
          const a1b = await create(t, u1, auiAssistant("surviving sibling"));

          const res = await cloud.threads.messages.delete(t, [a1]);
          assert.ok(res === undefined || typeof res === "object");
          const left = (await cloud.threads.messages.list(t)).messages.map((m) => m.id).sort();
          assert.deepEqual(left, [u1, a1b].sort(), "the deleted message and all its descendants are gone");

          await expectCloudError(
            client,
            cloud.threads.messages.delete(t, ["msg_000000000doesnotexist000"]),
            404,
            "DELETE unknown message ids",
          );
        }),
      );
    }

    if (client.has.feedback) {
      test(
        "feedback: positive, negative with a comment, unknown message 404",
        L(async () => {
          const t = await newThread();
          const u = await create(t, null, auiUser("Rate me"));
          const a = await create(t, u, auiAssistant("An answer to rate."));

          const pos = await cloud.threads.messages.feedback(t, a, { type: "positive" });
          assert.equal(typeof pos.feedback_id, "string");
          assert.ok(pos.feedback_id.length > 0);
          assert.equal(pos.type, "positive");

          const neg = await cloud.threads.messages.feedback(t, a, { type: "negative", comment: "  Too long, skip the history.  " });
          assert.equal(typeof neg.feedback_id, "string");
          assert.equal(neg.type, "negative");
          assert.equal(neg.comment, "Too long, skip the history.", "the (client-trimmed) comment is echoed");

          await expectCloudError(
            client,
            cloud.threads.messages.feedback(t, "msg_000000000doesnotexist000", { type: "positive" }),
            404,
            "feedback on unknown message",
            "message_not_found",
          );
          await expectCloudError(
            client,
            cloud.threads.messages.feedback("thread_000000000doesnotexist000", a, { type: "positive" }),
            404,
            "feedback on unknown thread",
            "thread_not_found",
          );
        }),
      );
    }
  });
}
