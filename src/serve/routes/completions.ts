/**
 * `POST /v1/completions`, OpenAI-compatible (legacy completions): `prompt` as text or token ids,
 * `max_tokens`, `temperature`, `top_p`, `stop`, `seed`, `n`, `stream` (+ `stream_options.include_usage`);
 * extensions `tau` / `compute_budget`. Without a tokenizer, prompts are token ids and every
 * choice carries `token_ids`. Choices run one after another on the device lane.
 * @module
 */
import type { Context, Hono } from "hono";
import { type AppEnv, inference, type ServeContext } from "../context.ts";
import { toApiError } from "../errors.ts";
import { mergeStats } from "../../model/stats.ts";
import { type ChoiceResult, type CompletionParams, parseCompletion, runChoice } from "../completion.ts";
import { report } from "../routing.ts";
import { Deadline } from "../scheduler.ts";
import { sseResponse } from "../sse.ts";
import { checkModelField, Fields } from "../validate.ts";
import { jsonBody, newId, requireCapability } from "./shared.ts";

const ROUTE = "/v1/completions";

/** `usage` of a set of choices (prompt tokens once per prompt). */
function usage(p: CompletionParams, choices: ChoiceResult[]) {
  const prompt = p.prompts.reduce((s, x) => s + x.length, 0);
  const completion = choices.reduce((s, c) => s + c.tokenIds.length, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/**
 * Registers the route.
 * @param app The app.
 * @param ctx App state.
 */
export function completionsRoute(app: Hono<AppEnv>, ctx: ServeContext): void {
  app.post(ROUTE, jsonBody(ctx), function completions(c) {
    const model = ctx.model;
    const f = new Fields(c.var.body);
    checkModelField(f, model.id);
    requireCapability(model, "generate");
    const p = parseCompletion(f, model, ctx.options);
    return p.stream ? streamed(c, ctx, p) : whole(c, ctx, p);
  });
}

/** Every (prompt, choice) pair in OpenAI's index order, with its seed. */
function plan(p: CompletionParams): { index: number; prompt: number[]; seed: number | undefined }[] {
  return p.prompts.flatMap((prompt, i) =>
    Array.from({ length: p.n }, (_, j) => ({
      index: i * p.n + j,
      prompt,
      seed: p.seed === undefined ? undefined : p.seed + j,
    }))
  );
}

async function whole(c: Context<AppEnv>, ctx: ServeContext, p: CompletionParams): Promise<Response> {
  const hasTok = ctx.model.tokenizer !== null;
  const choices = await inference(ctx, c.req.raw, async (signal) => {
    const out: ChoiceResult[] = [];
    for (const job of plan(p)) out.push(await runChoice(ctx, p, job.prompt, job.seed, signal));
    return out;
  });
  const u = usage(p, choices);
  countTokens(ctx, u);
  const d2dmoe = report(p.routing, mergeStats(choices.map((x) => x.stats)));
  return c.json({
    id: newId("cmpl"),
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model: ctx.model.id,
    choices: choices.map((x, index) => ({
      index,
      text: x.text,
      logprobs: null,
      finish_reason: x.finishReason,
      ...(hasTok ? {} : { token_ids: x.tokenIds }),
    })),
    usage: u,
    ffn_fraction: d2dmoe.ffn_fraction,
    d2dmoe,
  });
}

function streamed(c: Context<AppEnv>, ctx: ServeContext, p: CompletionParams): Response {
  const release = ctx.scheduler.admit(); // a full queue is still a plain 429, before the stream starts
  const hasTok = ctx.model.tokenizer !== null;
  const head = {
    id: newId("cmpl"),
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model: ctx.model.id,
  };
  const deadline = new Deadline(ctx.options.requestTimeoutMs, c.req.raw.signal);
  return sseResponse(async (send, cancelled) => {
    deadline.follow(cancelled);
    const done: ChoiceResult[] = [];
    let current: Promise<unknown> = Promise.resolve();
    try {
      for (const job of plan(p)) {
        const chunk = (text: string, ids: number[], finish: string | null) => ({
          ...head,
          choices: [{
            index: job.index,
            text,
            logprobs: null,
            finish_reason: finish,
            ...(hasTok ? {} : { token_ids: ids }),
          }],
        });
        const run = runChoice(
          ctx,
          p,
          job.prompt,
          job.seed,
          deadline.signal,
          (t, ids) => send(chunk(t, ids, null)),
        );
        current = run;
        const r = await deadline.race(run);
        done.push(r);
        const d2dmoe = report(p.routing, r.stats);
        send({ ...chunk("", [], r.finishReason), ffn_fraction: d2dmoe.ffn_fraction, d2dmoe });
      }
      const u = usage(p, done);
      countTokens(ctx, u);
      if (p.includeUsage) send({ ...head, choices: [], usage: u });
    } finally {
      deadline.clear();
      current.then(release, release); // the slot is free once the generation has really stopped
    }
  }, (e) => toApiError(e, ctx.log).body);
}

function countTokens(ctx: ServeContext, u: { prompt_tokens: number; completion_tokens: number }): void {
  ctx.metrics.tokens.inc({ route: ROUTE, kind: "prompt" }, u.prompt_tokens);
  ctx.metrics.tokens.inc({ route: ROUTE, kind: "completion" }, u.completion_tokens);
}
