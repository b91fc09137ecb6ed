// Drives an MCP server (here: the Warden gateway) with the official TypeScript SDK client.
//
// Usage: node client.mjs '<plan JSON>'   or   node client.mjs < plan.json
//
// Plan:
//   {
//     "transport": "stdio" | "http",
//     "command": "warden", "args": [...], "env": {...},   // stdio: the server to spawn
//     "url": "http://127.0.0.1:PORT/mcp", "headers": {...}, // http: endpoint and extra headers
//     "timeoutMs": 20000,                                  // per request (default 20 s)
//     "deadlineMs": 60000,                                 // whole run (default 60 s)
//     "steps": [
//       {"op": "listTools"},
//       {"op": "callTool", "name": "connections.refresh", "arguments": {...}, "progress": true}
//     ]
//   }
//
// Output: one JSON line on stdout for the connection, then one per step, in order:
//   {"op":"connect","ok":true,"serverVersion":{...},"protocolVersion":"..."}
//   {"step":0,"op":"listTools","ok":true,"tools":["..."]}
//   {"step":1,"op":"callTool","ok":true,"isError":false,"text":"...","content":[...],
//    "structuredContent":{...},"_meta":{...},"progress":[{"progress":100,"total":500},...]}
//   a failure: {"step":N,"op":"...","ok":false,"error":{"name":"...","message":"...","code":...}}
// A failed connect is printed and ends the run (exit 2); every step is attempted otherwise
// (exit 0). Exceeding deadlineMs prints {"op":"deadline","ok":false} and exits 3. Diagnostics,
// including a spawned server's stderr, go to stderr.

import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function describe(err) {
  const out = { name: err?.name ?? typeof err, message: String(err?.message ?? err) };
  if (err && err.code !== undefined) out.code = err.code;
  if (err && err.data !== undefined) out.data = err.data;
  // fetch's "fetch failed" hides the network error (ECONNRESET, "other side closed", ...).
  if (err && err.cause !== undefined) out.cause = describe(err.cause);
  return out;
}

function readPlan() {
  const text = process.argv[2] ?? readFileSync(0, "utf8");
  return JSON.parse(text);
}

function makeTransport(plan) {
  if (plan.transport === "stdio") {
    return new StdioClientTransport({
      command: plan.command,
      args: plan.args ?? [],
      // The whole environment, so the test's process tag reaches the gateway and its upstream.
      env: { ...process.env, ...(plan.env ?? {}) },
      stderr: "inherit",
    });
  }
  if (plan.transport === "http") {
    return new StreamableHTTPClientTransport(new URL(plan.url), {
      requestInit: { headers: plan.headers ?? {} },
      // Fail instead of retrying for long when the standalone SSE stream drops.
      reconnectionOptions: {
        initialReconnectionDelay: 100,
        maxReconnectionDelay: 500,
        reconnectionDelayGrowFactor: 1.5,
        maxRetries: 1,
      },
    });
  }
  throw new Error(`unknown transport ${JSON.stringify(plan.transport)}`);
}

function firstText(content) {
  for (const block of content ?? []) {
    if (block?.type === "text") return block.text;
  }
  return null;
}

async function runStep(client, step, requestOptions) {
  switch (step.op) {
    case "listTools": {
      const r = await client.listTools(undefined, requestOptions);
      return { tools: r.tools.map((t) => t.name), _meta: r._meta ?? null };
    }
    case "callTool": {
      const progress = [];
      const options = { ...requestOptions };
      if (step.progress) {
        options.onprogress = (p) => progress.push(p);
      }
      const r = await client.callTool({ name: step.name, arguments: step.arguments ?? {} }, undefined, options);
      const out = {
        isError: r.isError === true,
        text: firstText(r.content),
        content: r.content ?? null,
        _meta: r._meta ?? null,
      };
      if (r.structuredContent !== undefined) out.structuredContent = r.structuredContent;
      if (step.progress) out.progress = progress;
      return out;
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(step.op)}`);
  }
}

async function main() {
  const plan = readPlan();
  const timeout = plan.timeoutMs ?? 20000;
  const deadline = setTimeout(() => {
    emit({ op: "deadline", ok: false, error: { name: "Deadline", message: `run exceeded ${plan.deadlineMs ?? 60000} ms` } });
    process.exit(3);
  }, plan.deadlineMs ?? 60000);

  const client = new Client({ name: "warden-e2e-ts", version: "0.0.0" });
  let closing = false;
  // Transport errors are logged; the ones close() itself causes (the aborted SSE stream) are not.
  client.onerror = (err) =>
    closing || process.stderr.write(`client error: ${err?.stack ?? err} ${JSON.stringify(describe(err))}\n`);
  const transport = makeTransport(plan);
  try {
    await client.connect(transport, { timeout });
  } catch (err) {
    emit({ op: "connect", ok: false, error: describe(err) });
    await transport.close().catch(() => {});
    clearTimeout(deadline);
    process.exitCode = 2;
    return;
  }
  emit({
    op: "connect",
    ok: true,
    serverVersion: client.getServerVersion() ?? null,
    protocolVersion: transport.protocolVersion ?? null,
    sessionId: transport.sessionId ?? null,
  });

  const steps = plan.steps ?? [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    try {
      emit({ step: i, op: step.op, ok: true, ...(await runStep(client, step, { timeout })) });
    } catch (err) {
      emit({ step: i, op: step.op, ok: false, error: describe(err) });
    }
  }

  closing = true;
  // Ends the session (HTTP DELETE) / closes the child's stdin, then SIGTERM, then SIGKILL (stdio).
  if (plan.transport === "http") {
    await transport.terminateSession().catch((err) => process.stderr.write(`terminateSession: ${err}\n`));
  }
  await client.close();
  clearTimeout(deadline);
}

main().catch((err) => {
  emit({ op: "fatal", ok: false, error: describe(err) });
  process.exit(1);
});
