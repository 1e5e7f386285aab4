// A ChatModelAdapter that never leaves the browser: it streams the user's last
// message back, word by word. Swap it for your real model (see README.md).

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

export const echoModel = {
  async *run({ messages, abortSignal }) {
    const lastUser = messages.filter((m) => m.role === "user").at(-1);
    const prompt = (lastUser?.content ?? [])
      .filter((part) => part.type === "text")
      .map((part) => part.text)
      .join(" ");
    let text = "";
    for (const word of `You said: ${prompt}`.split(/(?<= )/)) {
      await sleep(40, abortSignal);
      text += word;
      yield { content: [{ type: "text", text }] };
    }
  },
};
