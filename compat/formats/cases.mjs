// Message-format cases encoded by the official packages, for the golden files
// of threadhold's read-time format conversion (crates/domain/tests/golden/formats).
//
// Two origins, as in real apps:
// - "ai-sdk/v6": a UI message as the AI SDK runtime (`useChatRuntime`) stores
//   it. The cloud history adapter then copies the thread as `aui/v0`: the
//   runtime's converter turns it into a thread message and `auiV0Encode` stores
//   that. Reading the copy back as `ai-sdk/v6` must give the original message.
// - "aui/v0": a thread message as the local runtime stores it (`auiV0Encode`).
//   Read as `ai-sdk/v6` and decoded by the AI SDK runtime, it must be the same
//   thread message, up to what the AI SDK has no place for (see `expectedLoss`).

import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { fromThreadMessageLike } from "@assistant-ui/core/internal";
import { aiSDKV6FormatAdapter } from "assistant-cloud-0211/ai-sdk";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.resolve(here, "../node_modules");
// Neither encoder is exported by its package; they are loaded from the pinned files.
const { auiV0Encode, auiV0DecodeSafely } = await import(
  pathToFileURL(path.join(modules, "@assistant-ui/core/dist/react/runtimes/cloud/auiV0.js")).href
);
const { AISDKMessageConverter } = await import(
  pathToFileURL(path.join(modules, "@assistant-ui/ai-sdk/dist/converters/convertMessage.js")).href
);

export const GOLDEN_DIR = path.resolve(here, "../../crates/domain/tests/golden/formats");

const PNG =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
const PNG_BARE = PNG.slice("data:image/png;base64,".length);

/** UI messages as the AI SDK runtime stores them; each reads back unchanged. */
const uiMessages = {
  "v6-user-text": { role: "user", parts: [{ type: "text", text: "What's the weather in Oslo?" }] },
  "v6-user-files": {
    role: "user",
    parts: [
      { type: "text", text: "Compare these" },
      { type: "file", mediaType: "image/png", filename: "chart.png", url: PNG },
      { type: "file", mediaType: "application/pdf", filename: "report.pdf", url: "https://files.example/report.pdf" },
    ],
  },
  "v6-system": { role: "system", parts: [{ type: "text", text: "You are terse." }] },
  "v6-text-reasoning-usage": {
    role: "assistant",
    parts: [
      { type: "step-start" },
      { type: "reasoning", text: "The user wants weather.", state: "done", providerMetadata: { openai: { itemId: "rs_1" } } },
      { type: "text", text: "It is cold.", state: "done", providerMetadata: { openai: { itemId: "msg_1" } } },
    ],
    metadata: { modelId: "gpt-test", usage: { inputTokens: 12, outputTokens: 5 }, steps: [{ usage: { inputTokens: 12, outputTokens: 5 } }] },
  },
  "v6-sources": {
    role: "assistant",
    parts: [
      { type: "step-start" },
      { type: "source-url", sourceId: "src_1", url: "https://example.com/a", title: "A" },
      { type: "source-document", sourceId: "src_2", mediaType: "application/pdf", title: "Spec", filename: "spec.pdf" },
      { type: "text", text: "See the sources.", state: "done" },
    ],
  },
  "v6-tool-states": {
    role: "assistant",
    parts: [
      { type: "step-start" },
      { type: "tool-weather", toolCallId: "call_1", state: "output-available", input: { city: "Oslo", unit: "C" }, output: { temp: -3 } },
      { type: "tool-lookup", toolCallId: "call_2", state: "output-error", input: { id: 7 }, errorText: "not found" },
      { type: "tool-search", toolCallId: "call_3", state: "input-available", input: { q: "fjords" } },
      { type: "tool-falsy", toolCallId: "call_4", state: "output-available", input: {}, output: false },
      { type: "tool-nullish", toolCallId: "call_5", state: "output-available", input: {}, output: null },
      { type: "text", text: "Done.", state: "done" },
    ],
  },
  "v6-tool-approvals": {
    role: "assistant",
    parts: [
      { type: "step-start" },
      { type: "tool-delete", toolCallId: "call_1", state: "approval-requested", input: { path: "/tmp/a" }, approval: { id: "ap_1" } },
      { type: "tool-delete", toolCallId: "call_2", state: "approval-responded", input: { path: "/tmp/b" }, approval: { id: "ap_2", approved: true } },
      {
        type: "tool-delete",
        toolCallId: "call_3",
        state: "output-denied",
        input: { path: "/" },
        approval: { id: "ap_3", approved: false, reason: "too broad" },
      },
    ],
  },
  "v6-tool-model-content": {
    role: "assistant",
    parts: [
      { type: "step-start" },
      {
        type: "tool-screenshot",
        toolCallId: "call_1",
        state: "output-available",
        input: { url: "https://example.com" },
        output: { __aui_modelContent: [{ type: "text", text: "a page" }], value: { ok: true } },
        callProviderMetadata: { anthropic: { cacheControl: { type: "ephemeral" } } },
      },
    ],
  },
  "v6-files-data": {
    role: "assistant",
    parts: [
      { type: "step-start" },
      { type: "file", mediaType: "image/png", url: PNG },
      { type: "data-weather", data: { city: "Oslo", temps: [1, 2, 3] } },
      { type: "text", text: "Here is a chart.", state: "done" },
    ],
    metadata: { custom_flag: true, nested: { a: [1, { b: null }] } },
  },
};

/** Thread messages as the local runtime stores them (`aui/v0`). */
const threadMessages = {
  "aui-user-attachments": {
    role: "user",
    content: [{ type: "text", text: "Look at these" }],
    attachments: [
      {
        id: "att_1",
        type: "image",
        name: "cat.png",
        contentType: "image/png",
        status: { type: "complete" },
        content: [{ type: "image", image: PNG, filename: "cat.png" }],
      },
      {
        id: "att_2",
        type: "document",
        name: "notes.pdf",
        contentType: "application/pdf",
        status: { type: "complete" },
        content: [{ type: "file", data: "JVBERi0xLjQK", mimeType: "application/pdf", filename: "notes.pdf" }],
      },
      {
        id: "att_3",
        type: "document",
        name: "readme.txt",
        contentType: "text/plain",
        status: { type: "complete" },
        content: [{ type: "text", text: "<attachment name=readme.txt>\nhello\n</attachment>" }],
      },
    ],
    metadata: { custom: { source: "composer" } },
  },
  "aui-assistant-every-part": {
    role: "assistant",
    content: [
      { type: "reasoning", text: "Thinking about it." },
      { type: "source", sourceType: "url", id: "s1", url: "https://example.com/doc", title: "Doc" },
      { type: "source", sourceType: "document", id: "s2", title: "Paper", mediaType: "application/pdf", filename: "p.pdf" },
      { type: "tool-call", toolCallId: "t1", toolName: "calc", args: { expr: "1+1" }, argsText: '{"expr":"1+1"}', result: 2 },
      {
        type: "tool-call",
        toolCallId: "t2",
        toolName: "fetch",
        args: { url: "x" },
        argsText: '{"url":"x"}',
        result: { error: "timeout" },
        isError: true,
      },
      {
        type: "tool-call",
        toolCallId: "t3",
        toolName: "chart",
        args: { b: 1, a: 2 },
        argsText: '{"b":1,"a":2}',
        result: "drawn",
        artifact: { svg: "<svg/>" },
        unstable_interactions: { version: 1, entries: [] },
      },
      { type: "tool-call", toolCallId: "t4", toolName: "ask", args: {}, argsText: "{}", interrupt: { type: "human", payload: { q: "sure?" } } },
      { type: "image", image: PNG, filename: "plot.png" },
      { type: "file", data: "aGVsbG8=", mimeType: "text/plain", filename: "hello.txt" },
      { type: "data", name: "progress", data: { step: 2, of: 3 } },
      { type: "generative-ui", spec: { component: "Card", props: { title: "Hi" } } },
      { type: "text", text: "All done." },
    ],
    status: { type: "complete", reason: "stop" },
    metadata: {
      unstable_state: { phase: "end" },
      unstable_annotations: [{ note: 1 }],
      unstable_data: [{ d: 1 }],
      steps: [{ usage: { inputTokens: 30, outputTokens: 9 } }],
      custom: { traceId: "abc", steps: "custom value named like a reserved key" },
    },
  },
  "aui-user-inline-media": {
    role: "user",
    content: [
      { type: "text", text: "Transcribe this" },
      { type: "audio", audio: { data: "SUQzBAAAAAAA", format: "mp3" } },
      { type: "image", image: PNG_BARE },
      { type: "data", name: "context", data: { page: "/home" } },
    ],
    metadata: { custom: {} },
  },
  "aui-mcp-tool": {
    role: "assistant",
    content: [
      {
        type: "tool-call",
        toolCallId: "m1",
        toolName: "mcp_search",
        args: { q: "x" },
        argsText: '{"q":"x"}',
        result: [{ type: "text", text: "found" }],
        mcp: { app: { resourceUri: "ui://search/view", serverId: "srv" } },
        providerMetadata: { gateway: { route: "a" } },
      },
    ],
    metadata: {},
  },
};

const toThreadMessage = (ui, id) => AISDKMessageConverter.toThreadMessages([{ id, ...ui }])[0];

/** Every case: its name, origin, and the content each format stores. */
export function buildCases() {
  const cases = [];
  for (const [name, ui] of Object.entries(uiMessages)) {
    const message = { id: `ui_${name}`, ...ui };
    const v6 = aiSDKV6FormatAdapter.encode({ parentId: null, message });
    cases.push({ name, origin: "ai-sdk/v6", "aui/v0": auiV0Encode(toThreadMessage(ui, message.id)), "ai-sdk/v6": v6 });
  }
  for (const [name, like] of Object.entries(threadMessages)) {
    const message = fromThreadMessageLike({ id: `tm_${name}`, createdAt: new Date(0), ...like }, `tm_${name}`, {
      type: "complete",
      reason: "unknown",
    });
    cases.push({ name, origin: "aui/v0", "aui/v0": auiV0Encode(message) });
  }
  return JSON.parse(JSON.stringify(cases));
}

/** The thread message the local runtime reads from a stored `aui/v0` row. */
export function decodeAuiV0(id, content) {
  return auiV0DecodeSafely({ id, parent_id: null, format: "aui/v0", content, created_at: new Date(0).toISOString() })?.message;
}

/** The thread message the AI SDK runtime shows for a stored `ai-sdk/v6` row. */
export function decodeAiSdkV6(id, content) {
  const { message } = aiSDKV6FormatAdapter.decode({ id, parent_id: null, format: "ai-sdk/v6", content });
  return toThreadMessage(message, id);
}

const asDataUrl = (data, mediaType) => (/^[a-z][a-z0-9+.-]*:/i.test(data) ? data : `data:${mediaType};base64,${data}`);

/**
 * A thread message as the AI SDK can carry it. The AI SDK has no image, audio
 * or generative-UI part (they become files and a data part), no part ids,
 * timings, interrupts, nested messages or statuses; the runtime files tool
 * artifacts under message metadata; a user's inline media and attachments are
 * file parts (text attachments become text), which it reads back as attachments.
 */
export function expectedLoss(message) {
  const content = [];
  const attachments = [];
  const attach = (part, name) => attachments.push({ type: part.type === "image" ? "image" : "file", content: [{ ...part, filename: name }] });
  for (const part of message.content) {
    switch (part.type) {
      case "image": {
        const mimeType = part.image.startsWith("data:") ? part.image.slice(5, part.image.indexOf(";")) : "image/png";
        const data = asDataUrl(part.image, mimeType);
        if (message.role === "user") attach({ type: "image", image: data }, part.filename);
        else content.push({ type: "file", data, mimeType, ...(part.filename && { filename: part.filename }) });
        break;
      }
      case "audio": {
        const mimeType = `audio/${part.audio.format}`;
        attach({ type: "file", data: asDataUrl(part.audio.data, mimeType), mimeType }, undefined);
        break;
      }
      case "file": {
        const file = { type: "file", data: asDataUrl(part.data, part.mimeType), mimeType: part.mimeType };
        if (message.role === "user") attach(file, part.filename);
        else content.push({ ...file, ...(part.filename && { filename: part.filename }) });
        break;
      }
      case "generative-ui":
        content.push({ type: "data", name: "generative-ui", data: part.spec });
        break;
      case "data":
        content.push({ type: "data", name: part.name, data: part.data });
        break;
      case "tool-call": {
        const { artifact, unstable_interactions, interrupt, timing, messages, parentId, isPreliminary, mcp, ...rest } = part;
        content.push({
          ...rest,
          ...(mcp?.app && { mcp: { app: mcp.app }, providerMetadata: { ...part.providerMetadata, mcp: { app: mcp.app } } }),
        });
        break;
      }
      case "source": {
        const { parentId, ...rest } = part;
        content.push(rest);
        break;
      }
      default: {
        const { id, parentId, ...rest } = part;
        content.push(rest);
      }
    }
  }
  for (const attachment of message.attachments ?? []) {
    for (const part of attachment.content) {
      if (part.type === "text") content.push({ type: "text", text: part.text });
      else if (part.type === "image") attach({ type: "image", image: part.image }, attachment.name);
      else if (part.type === "file") attach({ type: "file", data: asDataUrl(part.data, part.mimeType), mimeType: part.mimeType }, attachment.name);
    }
  }
  return { role: message.role, content, attachments, metadata: message.metadata };
}

/** What of a thread message both runtimes must agree on: role, parts and attachments, as plain JSON. */
export function comparable(message) {
  const plain = JSON.parse(JSON.stringify(message));
  const strip = (part) => {
    const { status, ...rest } = part;
    if (rest.type === "tool-call") {
      // Both runtimes derive argsText from args; isError false and an absent flag mean the same.
      const { argsText, isError, ...tool } = rest;
      return { ...tool, ...(isError && { isError }) };
    }
    return rest;
  };
  const attachments = (plain.attachments ?? []).map((attachment) => ({
    type: attachment.type === "document" ? "file" : attachment.type,
    content: attachment.content.map(strip),
  }));
  // The runtime's own tool-data keys are stripped on load by newer runtimes, kept in `custom` by this one.
  const custom = Object.fromEntries(Object.entries(plain.metadata?.custom ?? {}).filter(([key]) => !key.startsWith("__aui_")));
  const metadata = {
    custom,
    steps: plain.metadata?.steps ?? [],
    unstable_state: plain.metadata?.unstable_state ?? null,
    unstable_annotations: plain.metadata?.unstable_annotations ?? [],
    unstable_data: plain.metadata?.unstable_data ?? [],
  };
  return { role: plain.role, content: plain.content.map(strip), attachments, metadata };
}
