// The AI SDK runtime in a real browser against threadhold (spec 4.7, 5.4, 5.5).
//
// test/fixtures/aisdk-app.jsx is `useChatRuntime({ cloud })` from
// @assistant-ui/react-ai-sdk 1.4.12 (@assistant-ui/ai-sdk 0.0.7, core 0.3.35)
// with an anonymous `AssistantCloud` (assistant-cloud 0.2.11), rendered with
// @assistant-ui/react 0.15.22's primitives: thread list, thread, reasoning
// parts, a makeAssistantToolUI for the `weather` tool and the parts' tool
// fallback for any other tool. Its chat transport
// posts to `/api/chat` on the page server, where `streamText` from `ai`
// 7.0.173 streams a UI message stream from the package's own mock model
// (`MockLanguageModelV4` from `ai/test`): plain text, or reasoning plus a
// server-side `weather` tool call (with `execute`) and a closing text.
//
// The runtime persists what it streamed through the cloud history adapter
// (`ai-sdk/v6` rows, then copied as `aui/v0`, spec 5.5) and reloads a thread
// with `?format=ai-sdk/v6`, keeping only rows in that format, so these tests
// check the read-time conversion of spec 4.7 end to end: after a reload the
// thread is shown again, including tool calls, their results and reasoning,
// and it continues with its history without storing it twice (the copy after
// a reload names loaded messages by their server ids, which the server takes
// as the stored messages). test/fixtures/react-app.jsx (the local
// runtime, `aui/v0`) is served from the same origin at /local, so it shares
// the anonymous identity of a browser context and its threads open here.
//
// Chromium is launched as in the other browser tests (Debian's
// /usr/bin/chromium through playwright-core, never a downloaded browser).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { convertToModelMessages, jsonSchema, stepCountIs, streamText, tool } from "ai";
import { MockLanguageModelV4, simulateReadableStream } from "ai/test";
import {
  appHtml,
  browserSession,
  bundle,
  closePageServer,
  consoleProblems,
  inPage,
  openPage,
  originOf,
  readJson,
  reloadPage,
  sendFromComposer,
  sendWebResponse,
  serverErrors,
  startPageServer,
  waitUntil,
} from "./chromium.mjs";
import { CLIENTS, apiKeyClient, auiAssistant, auiUser, startServer, withLogs } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

let server;
let pageServer;
let pageOrigin;
/** An API-key client of the official package for reading what the pages stored. */
let inspector;
const session = browserSession();
const L = (fn) => withLogs(() => server, fn);

// ---------------------------------------------------------------------------
// The chat route: the `ai` package's own streamText over its mock model.

/** Every body the chat route received, oldest first. */
const chatRequests = [];

const FORECAST = { city: "Oslo", forecast: "sunny", temperatureC: 21 };
const REASONING = "The user asks about the weather, so I call the weather tool first.";
const WEATHER_REPLY = "Oslo will be sunny at 21 °C.";
const echoReply = (prompt) => `Echo: ${prompt}`;

const tools = {
  weather: tool({
    description: "The weather forecast for a city",
    inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
    execute: async ({ city }) => ({ ...FORECAST, city }),
  }),
};

const usage = {
  inputTokens: { total: 12, noCache: 12, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 8, text: 8, reasoning: undefined },
};
const finish = (unified) => ({ type: "finish", usage, finishReason: { unified, raw: unified } });
const textChunks = (id, text) => [
  { type: "text-start", id },
  ...text.split(/(?<= )/).map((delta) => ({ type: "text-delta", id, delta })),
  { type: "text-end", id },
];

/**
 * The mock model's step: after a tool result, the closing text; for a user
 * message that mentions the weather, reasoning and a `weather` tool call;
 * otherwise an echo of the user's text.
 */
function modelStep(prompt) {
  const last = prompt.at(-1);
  if (last?.role === "tool") return [...textChunks("t2", WEATHER_REPLY), finish("stop")];
  const userText = (last?.content ?? [])
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("");
  if (/weather/i.test(userText)) {
    return [
      { type: "reasoning-start", id: "r1" },
      { type: "reasoning-delta", id: "r1", delta: REASONING },
      { type: "reasoning-end", id: "r1" },
      {
        type: "tool-call",
        toolCallId: `call_${chatRequests.length}`,
        toolName: "weather",
        input: JSON.stringify({ city: "Oslo" }),
      },
      finish("tool-calls"),
    ];
  }
  return [...textChunks("t1", echoReply(userText)), finish("stop")];
}

const model = new MockLanguageModelV4({
  doStream: async ({ prompt }) => ({
    stream: simulateReadableStream({
      chunks: [{ type: "stream-start", warnings: [] }, ...modelStep(prompt)],
      chunkDelayInMs: 30,
    }),
  }),
});

async function chatRoute(req, res) {
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  const body = await readJson(req);
  chatRequests.push(body);
  const result = streamText({
    model,
    messages: await convertToModelMessages(body.messages, { tools }),
    tools,
    stopWhen: stepCountIs(3),
  });
  await sendWebResponse(res, result.toUIMessageStreamResponse());
}

// ---------------------------------------------------------------------------
// Pages

const appUrl = () => `${pageOrigin}/?server=${encodeURIComponent(server.url)}`;
const localAppUrl = () => `${pageOrigin}/local?server=${encodeURIComponent(server.url)}`;

/** The rendered messages of the AI SDK app: text parts, reasoning parts and weather tool UIs, per message. */
const messagesDom = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll(".message")].map((el) => ({
      role: el.dataset.role,
      text: [...el.querySelectorAll(".text")].map((t) => t.textContent).join(""),
      reasoning: [...el.querySelectorAll(".reasoning")].map((r) => r.textContent),
      tools: [...el.querySelectorAll(".tool")].map((t) => ({
        ui: t.dataset.ui,
        name: t.dataset.tool,
        args: t.dataset.args ? JSON.parse(t.dataset.args) : undefined,
        result: t.dataset.result ? JSON.parse(t.dataset.result) : undefined,
      })),
    })),
  );

/** The thread list as rendered: remote ids and titles. */
const threadListDom = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll(".thread-item")].map((el) => ({
      remoteId: el.dataset.remoteId,
      title: el.textContent,
    })),
  );

/** Clicks the thread list item of `remoteId` (it must be listed). */
async function openFromThreadList(page, remoteId) {
  await waitUntil(
    `the thread list to show ${remoteId}`,
    () => threadListDom(page),
    (items) => items.some((i) => i.remoteId === remoteId),
    { pages: [page] },
  );
  await page.click(`.thread-item[data-remote-id="${remoteId}"] .thread-trigger`, { timeout: 5_000 });
}

/** Sends `prompt` and waits for the streamed reply (a message whose text is `reply`). */
async function sendAndAwaitReply(page, prompt, reply) {
  const before = (await messagesDom(page)).length;
  await sendFromComposer(page, prompt);
  return waitUntil(
    `the streamed reply to "${prompt}"`,
    () => messagesDom(page),
    (msgs) => msgs.length === before + 2 && msgs.at(-1).role === "assistant" && msgs.at(-1).text === reply,
    { pages: [page] },
  );
}

/**
 * The stored rows of a thread, newest first, read project-wide with an API key
 * (so the page's request log holds only the runtime's requests).
 */
const storedRows = async (threadId) =>
  (await inspector.projects.threads.messages.list(threadId, { limit: 50 })).messages;

/** The stored thread, read project-wide. */
const storedThread = async (threadId) =>
  (await inspector.projects.threads.list({ limit: 100 })).threads.find((t) => t.id === threadId);

/**
 * Waits until the runtime has written the thread: the server holds at least
 * `count` rows and the page's requests to the API have been settled, with
 * none added, for two polls in a row (the runtime writes after the run, then
 * copies the thread, spec 5.5). Then the thread must hold exactly `count`
 * rows (a copy stored twice is a failure). Returns them, newest first.
 */
async function awaitPersisted(page, remoteId, count) {
  let seen = -1;
  let quiet = 0;
  const { rows } = await waitUntil(
    `the server to hold ${count} messages of ${remoteId} and the page to finish writing`,
    async () => {
      const { total, pending } = await page.evaluate((api) => {
        const calls = window.calls().filter((c) => c.url.startsWith(api));
        return { total: calls.length, pending: calls.filter((c) => c.status === null && c.error === null).length };
      }, server.url);
      quiet = pending === 0 && total === seen ? quiet + 1 : 0;
      seen = total;
      return { rows: await storedRows(remoteId), quiet };
    },
    ({ rows, quiet }) => quiet >= 2 && rows.length >= count,
    { pages: [page] },
  );
  assert.equal(
    rows.length,
    count,
    `messages stored in ${remoteId} (id, parent, external id, role): ${JSON.stringify(
      rows.map((r) => [r.id, r.parent_id, r.external_id, r.content.role]),
    )}`,
  );
  return rows;
}

/** The GET …/messages calls of the page for `remoteId`, with the rows the server answered. */
const messageLists = async (page, remoteId) =>
  (await page.evaluate(() => window.calls())).filter(
    (c) => c.method === "GET" && c.path === `/v1/threads/${remoteId}/messages`,
  );

/** Checks how the runtime loaded `remoteId`: `format=ai-sdk/v6` and every row converted. Returns the rows. */
async function assertLoadedAsV6(page, remoteId, count) {
  const lists = await waitUntil(
    "the runtime's ai-sdk/v6 history read to be answered",
    () => messageLists(page, remoteId),
    (calls) => calls.some((c) => c.query.includes("format=ai-sdk%2Fv6") && c.response),
    { pages: [page] },
  );
  const load = lists.find((c) => c.query.includes("format=ai-sdk%2Fv6") && c.response);
  assert.equal(new URLSearchParams(load.query).get("limit"), "200", "the runtime pages by 200");
  const rows = load.response.messages;
  assert.equal(rows.length, count, `rows in the history read: ${JSON.stringify(rows)}`);
  assert.deepEqual(
    rows.map((r) => r.format),
    rows.map(() => "ai-sdk/v6"),
    "every row comes back as ai-sdk/v6",
  );
  return rows;
}

/** The text of a UI message's text parts. */
const uiText = (m) =>
  m.parts
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("");

/** Waits for the main thread's remote id. */
const awaitRemoteId = (page) =>
  waitUntil(
    "the thread to get its remote id",
    () => page.evaluate(() => window.mainRemoteId()),
    (id) => typeof id === "string" && id.length > 0,
    { pages: [page] },
  );

/** Reloads the app, opens `remoteId` from the thread list and waits until it shows `count` messages. */
async function reloadAndOpen(page, remoteId, count) {
  await reloadPage(page);
  assert.equal(await page.evaluate(() => window.mainRemoteId()), null, "a reload starts on a new thread");
  await openFromThreadList(page, remoteId);
  return waitUntil(
    `the reopened thread to show ${count} messages`,
    () => messagesDom(page),
    (msgs) => msgs.length === count,
    { pages: [page] },
  );
}

// ---------------------------------------------------------------------------

before(async () => {
  server = await startServer({
    env: { THREADHOLD_ANONYMOUS_MINTS_PER_MINUTE: "1000", THREADHOLD_ANONYMOUS_REFRESHES_PER_MINUTE: "1000" },
  });
  const [aisdkJs, localJs] = await Promise.all([
    bundle({ entry: path.join(here, "fixtures", "aisdk-app.jsx") }),
    bundle({ entry: path.join(here, "fixtures", "react-app.jsx") }),
  ]);
  pageServer = await startPageServer({
    "/": appHtml("threadhold compat: @assistant-ui/react-ai-sdk"),
    "/app.js": aisdkJs,
    "/local": appHtml("threadhold compat: @assistant-ui/react (local runtime)", "/local.js"),
    "/local.js": localJs,
    "/api/chat": chatRoute,
  });
  pageOrigin = originOf(pageServer);
  const apiKey = await server.createKey("compat-aisdk");
  inspector = apiKeyClient(CLIENTS[0], server, { apiKey, workspaceId: "inspector" });
});

after(async () => {
  await session.close();
  await closePageServer(pageServer);
  await server?.stop();
});

describe("@assistant-ui/react-ai-sdk 1.4.12 (useChatRuntime, ai 7.0.173) with cloud persistence in Chromium", () => {
  test(
    "a streamed reply is shown again after a reload (the history is read as ai-sdk/v6)",
    L(async () => {
      const context = await session.newContext();
      const page = await openPage(context, appUrl(), "plain");
      const prompt = "Hello from the AI SDK app";
      const requestsBefore = chatRequests.length;

      await sendAndAwaitReply(page, prompt, echoReply(prompt));
      const remoteId = await awaitRemoteId(page);
      // The chat request names the cloud thread and carries the user message.
      assert.equal(chatRequests.length, requestsBefore + 1, "one chat request");
      const request = chatRequests.at(-1);
      assert.equal(request.id, remoteId, "the chat request's id is the cloud thread id");
      assert.deepEqual(
        request.messages.map((m) => [m.role, uiText(m)]),
        [["user", prompt]],
      );

      const stored = await awaitPersisted(page, remoteId, 2);
      assert.deepEqual(stored.map((r) => r.content.role), ["assistant", "user"]);
      assert.equal(stored[0].parent_id, stored[1].id, "the reply is the user message's child");
      // Spec 5.5: the runtime writes ai-sdk/v6 rows, and the cloud history
      // adapter's copy rewrites them as aui/v0 (same external_id), which only a
      // converting server can give back to this runtime.
      const calls = await page.evaluate(() => window.calls());
      const writes = calls.filter((c) => c.method === "POST" && c.path === `/v1/threads/${remoteId}/messages`);
      assert.deepEqual(
        [...new Set(writes.map((c) => c.sdk))],
        ["assistant-cloud/0.2.11 @assistant-ui/core/0.3.35 @assistant-ui/ai-sdk/0.0.7"],
        "the pinned packages wrote (Aui-Sdk)",
      );
      assert.deepEqual(
        writes.map((c) => [c.body.format, c.body.external_id]).sort(),
        [
          ...stored.map((r) => ["ai-sdk/v6", r.external_id]),
          ...stored.map((r) => ["aui/v0", r.external_id]),
        ].sort(),
        "each message written as ai-sdk/v6 and copied as aui/v0",
      );
      assert.deepEqual(
        stored.map((r) => r.format),
        ["aui/v0", "aui/v0"],
        "the copy landed last (aisdk-app.jsx holds it back)",
      );

      const shown = await reloadAndOpen(page, remoteId, 2);
      assert.deepEqual(
        shown.map((m) => [m.role, m.text]),
        [
          ["user", prompt],
          ["assistant", echoReply(prompt)],
        ],
      );
      const rows = await assertLoadedAsV6(page, remoteId, 2);
      assert.deepEqual(
        rows.map((r) => r.id),
        stored.map((r) => r.id),
        "the same rows, in the same order",
      );
      assert.deepEqual(rows[1].content, { role: "user", parts: [{ type: "text", text: prompt }] });

      assert.deepEqual(await serverErrors(page), [], "5xx answers");
      assert.deepEqual(consoleProblems(page), [], "console errors and warnings");
      await page.close();
    }),
  );

  test(
    "threads written as aui/v0 by the local runtime and through the API open in the AI SDK app",
    L(async () => {
      const context = await session.newContext();
      // The local runtime (react-app.jsx) on the same origin: the same anonymous identity.
      const local = await openPage(context, localAppUrl(), "local");
      const prompt = "Written by the local runtime";
      const localReply = `Echo: ${prompt}. One, two, three, four. Done.`;
      await inPage(local, () => {
        window.replyControl.chunkDelayMs = 20;
      });
      await sendFromComposer(local, prompt);
      const localId = await awaitRemoteId(local);
      const localRows = await waitUntil(
        "the local runtime's thread to be stored with its final reply",
        () => storedRows(localId),
        (rows) =>
          rows.length === 2 &&
          rows.every((r) => r.format === "aui/v0") &&
          rows[0].run?.status !== "running" &&
          rows[0].content.content.some((p) => p.type === "text" && p.text === localReply),
        { pages: [local] },
      );

      // A thread with reasoning and a tool call, made with the official client as the local runtime stores it.
      const sourdough = {
        user: auiUser("How do I bake sourdough?"),
        assistant: auiAssistant("Here are two recipes.", { withTool: true }),
      };
      const apiId = await inPage(
        local,
        async ({ user, assistant }) => {
          const { threads } = window.cloud;
          const { thread_id } = await threads.create({ last_message_at: new Date(), title: "Sourdough" });
          const post = (parent_id, content) => threads.messages.create(thread_id, { parent_id, format: "aui/v0", content });
          await post((await post(null, user)).message_id, assistant);
          return thread_id;
        },
        sourdough,
      );
      assert.deepEqual(consoleProblems(local), [], "console errors and warnings of the local runtime's page");
      await local.close();

      const page = await openPage(context, appUrl(), "aisdk");
      await openFromThreadList(page, localId);
      const shownLocal = await waitUntil(
        "the local runtime's thread to show its messages",
        () => messagesDom(page),
        (msgs) => msgs.length === 2,
        { pages: [page] },
      );
      assert.deepEqual(
        shownLocal.map((m) => [m.role, m.text]),
        [
          ["user", prompt],
          ["assistant", localReply],
        ],
      );
      const localV6 = await assertLoadedAsV6(page, localId, 2);
      assert.deepEqual(
        localV6.map((r) => r.id),
        localRows.map((r) => r.id),
      );

      await openFromThreadList(page, apiId);
      const shownApi = await waitUntil(
        "the API-written thread to show its messages",
        () => messagesDom(page),
        (msgs) => msgs.length === 2 && msgs[0].text === "How do I bake sourdough?",
        { pages: [page] },
      );
      const toolCall = sourdough.assistant.content.find((p) => p.type === "tool-call");
      assert.deepEqual(shownApi[1], {
        role: "assistant",
        text: "Here are two recipes.",
        reasoning: [sourdough.assistant.content[0].text],
        tools: [{ ui: "fallback", name: toolCall.toolName, args: toolCall.args, result: toolCall.result }],
      });
      await assertLoadedAsV6(page, apiId, 2);
      const titles = await threadListDom(page);
      assert.equal(titles.find((t) => t.remoteId === apiId)?.title, "Sourdough", "the stored title is listed");

      assert.deepEqual(await serverErrors(page), [], "5xx answers");
      assert.deepEqual(consoleProblems(page), [], "console errors and warnings");
      await page.close();
    }),
  );

  test(
    "reasoning and a server-side tool call with its result render again after a reload",
    L(async () => {
      const context = await session.newContext();
      const page = await openPage(context, appUrl(), "tool");
      const prompt = "What is the weather in Oslo?";
      const streamed = await sendAndAwaitReply(page, prompt, WEATHER_REPLY);
      const expected = {
        role: "assistant",
        text: WEATHER_REPLY,
        reasoning: [REASONING],
        tools: [{ ui: "weather-tool-ui", name: "weather", args: { city: "Oslo" }, result: FORECAST }],
      };
      assert.deepEqual(streamed[1], expected, "the streamed reply");
      const remoteId = await awaitRemoteId(page);
      await awaitPersisted(page, remoteId, 2);

      const shown = await reloadAndOpen(page, remoteId, 2);
      assert.deepEqual(shown, streamed, "the reloaded thread renders as it streamed");

      // What the runtime received: the AI SDK parts of the reply.
      const [reply] = await assertLoadedAsV6(page, remoteId, 2);
      const parts = reply.content.parts.filter((p) => p.type !== "step-start");
      assert.deepEqual(
        parts.map((p) => p.type),
        ["reasoning", "tool-weather", "text"],
      );
      assert.equal(parts[0].text, REASONING);
      assert.equal(parts[1].state, "output-available");
      assert.deepEqual(parts[1].input, { city: "Oslo" });
      assert.deepEqual(parts[1].output, FORECAST);
      assert.equal(parts[2].text, WEATHER_REPLY);

      assert.deepEqual(await serverErrors(page), [], "5xx answers");
      assert.deepEqual(consoleProblems(page), [], "console errors and warnings");
      await page.close();
    }),
  );

  test(
    "after a reload the thread keeps its title and a second message continues it with the earlier turns",
    L(async () => {
      const context = await session.newContext();
      const page = await openPage(context, appUrl(), "continue");
      const first = "Plan a trip to Bergen in spring";
      const title = "Plan a trip to Bergen in spring";
      await sendAndAwaitReply(page, first, echoReply(first));
      const remoteId = await awaitRemoteId(page);
      const firstRows = await awaitPersisted(page, remoteId, 2);
      await waitUntil(
        "the server to store the generated title",
        () => storedThread(remoteId),
        (t) => t?.title === title,
        { pages: [page] },
      );

      await reloadAndOpen(page, remoteId, 2);
      assert.deepEqual(
        await threadListDom(page),
        [{ remoteId, title }],
        "the thread list shows the one thread with its title",
      );

      const second = "What is the weather in Oslo?";
      const requestsBefore = chatRequests.length;
      const shown = await sendAndAwaitReply(page, second, WEATHER_REPLY);
      assert.deepEqual(
        shown.map((m) => [m.role, m.text]),
        [
          ["user", first],
          ["assistant", echoReply(first)],
          ["user", second],
          ["assistant", WEATHER_REPLY],
        ],
      );
      // The model got the whole history, under the same thread id.
      assert.equal(chatRequests.length, requestsBefore + 1, "one chat request");
      const request = chatRequests.at(-1);
      assert.equal(request.id, remoteId, "the second message goes to the same cloud thread");
      assert.deepEqual(
        request.messages.map((m) => [m.role, uiText(m)]),
        [
          ["user", first],
          ["assistant", echoReply(first)],
          ["user", second],
        ],
      );
      assert.deepEqual(
        request.messages.slice(0, 2).map((m) => m.id),
        [...firstRows].reverse().map((r) => r.id),
        "the earlier turns are the stored messages, by their server ids",
      );

      // Stored as one chain in the same thread, and nothing twice: after the reload the
      // runtime's transcript copy re-sends the loaded messages under their server ids
      // as external_id, which must name the stored rows. No other thread was created.
      const rows = await awaitPersisted(page, remoteId, 4);
      assert.deepEqual(
        rows.map((r) => r.content.role),
        ["assistant", "user", "assistant", "user"],
      );
      rows.forEach((r, i) => assert.equal(r.parent_id, rows[i + 1]?.id ?? null, `parent of row ${i}`));
      assert.equal(rows[2].id, firstRows[0].id);
      assert.equal(rows[3].id, firstRows[1].id);
      const calls = await page.evaluate(() => window.calls());
      assert.ok(!calls.some((c) => c.method === "POST" && c.path === "/v1/threads"), "no new thread after the reload");
      assert.equal((await storedThread(remoteId)).title, title, "the title is kept");
      assert.deepEqual(await threadListDom(page), [{ remoteId, title }]);

      // And the continued thread comes back whole.
      const reopened = await reloadAndOpen(page, remoteId, 4);
      assert.deepEqual(reopened.slice(0, 3).map((m) => m.text), [first, echoReply(first), second]);
      assert.deepEqual(reopened[3], {
        role: "assistant",
        text: WEATHER_REPLY,
        reasoning: [REASONING],
        tools: [{ ui: "weather-tool-ui", name: "weather", args: { city: "Oslo" }, result: FORECAST }],
      });

      assert.deepEqual(await serverErrors(page), [], "5xx answers");
      assert.deepEqual(consoleProblems(page), [], "console errors and warnings");
      await page.close();
    }),
  );
});
