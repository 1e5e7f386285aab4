// A stand-in for a real model, so the example runs without an account or a
// network: the AI SDK's own mock language model, streaming "Echo: <your
// message>" word by word. In your app, use a provider instead, e.g.
//
//   import { openai } from "@ai-sdk/openai";
//   export const model = openai("gpt-4o-mini");
import { MockLanguageModelV4, simulateReadableStream } from "ai/test";

const lastUserText = (prompt) =>
  (prompt.findLast((m) => m.role === "user")?.content ?? [])
    .filter((part) => part.type === "text")
    .map((part) => part.text)
    .join(" ");

export const model = new MockLanguageModelV4({
  doStream: async ({ prompt }) => {
    const words = `Echo: ${lastUserText(prompt)}`.split(/(?<= )/);
    return {
      stream: simulateReadableStream({
        chunkDelayInMs: 40,
        chunks: [
          { type: "stream-start", warnings: [] },
          { type: "text-start", id: "t1" },
          ...words.map((delta) => ({ type: "text-delta", id: "t1", delta })),
          { type: "text-end", id: "t1" },
          {
            type: "finish",
            finishReason: { unified: "stop", raw: "stop" },
            usage: {
              inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
              outputTokens: { total: words.length, text: words.length, reasoning: undefined },
            },
          },
        ],
      }),
    };
  },
});
