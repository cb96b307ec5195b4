/**
 * The public model object: one loaded network bound to a backend, with `forward`, `generate`,
 * `embed` and `classify`. Every call validates its inputs, records one pass, reads back once and
 * reports what it computed.
 * @module
 */
import type { Backend, BackendInfo } from "../ops/backend.ts";
import type { Tensor } from "../ops/tensor.ts";
import { NO_TARGET } from "../ops/cross_entropy_ref.ts";
import { Mutex } from "../util/mutex.ts";
import { BertNet } from "./bert.ts";
import type { ModelConfig } from "./config.ts";
import { InvalidInputError } from "./errors.ts";
import { Gpt2Net, type KvCache } from "./gpt2.ts";
import { checkAlignedRows, checkIdRows, flattenPixels, flattenU32 } from "./inputs.ts";
import type { AttentionParams, AttentionProjections, FeedForward, PassContext } from "./layers.ts";
import type { NdArray } from "./ndarray.ts";
import { Sampler, type SamplingOptions } from "./sampling.ts";
import { attentionMacs, type ComputeStats, MacTally } from "./stats.ts";
import type { TextTokenizer } from "./tokenizer.ts";
import { VitNet } from "./vit.ts";
import { l2NormalizeRows, padUseBatch, UseNet } from "./use/use_net.ts";

/** Inputs in the Hugging Face fixture format (nested arrays). */
export interface ForwardInputs {
  /** Token ids [batch][seq] (BERT, GPT-2). */
  input_ids?: number[][];
  /** 1 for real tokens, 0 for padding [batch][seq]. */
  attention_mask?: number[][];
  /** Segment ids [batch][seq] (BERT). */
  token_type_ids?: number[][];
  /** Images [batch][channels][height][width] (ViT). */
  pixel_values?: number[][][][];
}

/** Per-call options shared by every method. */
export interface RunOptions {
  /** D2DMoE threshold τ ∈ [0, 1]: run expert i iff r_i ≥ τ·max r (converted models only; 0 = dense). */
  tau?: number;
  /** MoEfication baseline instead of dynamic-k: run the k highest-scoring experts per token. */
  moeTopK?: number;
}

/** Options of {@link Model.forward}. */
export interface ForwardOptions extends RunOptions {
  /** GPT-2: `"hidden"` returns the final hidden states instead of computing the LM head (default "logits"). */
  outputs?: "logits" | "hidden";
}

/** Result of {@link Model.forward}. */
export interface ForwardOutput {
  /** Logits: [batch, labels] (classifiers) or [batch, seq, vocab] (GPT-2); null for bare encoders. */
  logits: NdArray | null;
  /** Final hidden states [batch, seq, hidden] (encoders). */
  last_hidden_state: NdArray | null;
  /** What the pass computed. */
  stats: ComputeStats;
}

/** Options of {@link Model.generate}. */
export interface GenerateOptions extends RunOptions, SamplingOptions {
  /** New tokens to produce (default 16). */
  maxTokens?: number;
  /** Token sequences that end generation (the stop sequence itself is not returned). */
  stop?: number[][];
  /** Stop at this id (default: the config's eos_token_id when it is in the vocabulary; null: never). */
  eosTokenId?: number | null;
  /** Called with each new token as soon as it is chosen; return false to stop early. */
  onToken?: (id: number) => void | boolean;
  /** Aborts generation between steps. */
  signal?: AbortSignal;
}

/** Result of {@link Model.generate}. */
export interface GenerateResult {
  /** The new tokens (prompt excluded). */
  token_ids: number[];
  /** Why generation ended. */
  finish_reason: "length" | "stop" | "eos";
  /** Prompt length in tokens. */
  prompt_tokens: number;
  /** Compute over the prompt and every step. */
  stats: ComputeStats;
}

/** Result of {@link Model.loss}. */
export interface LossResult {
  /** Summed negative log-likelihood of every predicted token (nats). */
  nll: number;
  /** Predicted tokens (each row's length − 1, summed). */
  tokens: number;
  /** exp(nll / tokens). */
  perplexity: number;
  /** What the pass computed. */
  stats: ComputeStats;
}

/** Options of {@link Model.embed}. */
export interface EmbedOptions extends RunOptions {
  /** Mean over tokens (default) or the first token's state. */
  pooling?: "mean" | "cls";
  /** L2-normalise each embedding (default true). */
  normalize?: boolean;
}

/** Result of {@link Model.embed}. */
export interface EmbedResult {
  /** One vector per input. */
  embeddings: Float32Array[];
  /** Tokens per input after truncation. */
  token_counts: number[];
  /** What the pass computed. */
  stats: ComputeStats;
}

/** Result of {@link Model.classify}. */
export interface ClassifyResult {
  /** Per input: labels with softmax scores, best first. */
  results: { label: string; score: number }[][];
  /** What the pass computed. */
  stats: ComputeStats;
}

/** The loaded network, by family. */
export type Net = BertNet | Gpt2Net | VitNet | UseNet;

/** What a converted model says about its conversion (from its manifest). */
export interface MoeInfo {
  /** Manifest format version. */
  formatVersion: number;
  /** Per FFN layer: experts and neurons per expert. */
  layers: { experts: number; expertSize: number }[];
  /** Per block, its converted attention projections' experts (null where dense); absent when none. */
  attention?: ({ experts: number; expertSize: number } | null)[];
  /** Router hidden width. */
  routerWidth: number;
  /** What the routers' scores estimate (absent: "norm"); τ is applied to predicted norms either way. */
  routerTarget?: "norm" | "sqrt_norm";
  /** τ used when a call gives none. */
  defaultTau: number;
  /** Optional τ → FFN-fraction calibration table (ascending τ), for compute budgets. */
  calibration?: { tau: number; ffn_fraction: number }[];
}

/** Per-call routing state of a converted model. */
export interface RoutingPass {
  /** Handed to every FFN layer through `PassContext.routing`. */
  routing: unknown;
  /** Counter tensors recorded since the last call, to be read with the outputs. */
  take(): Tensor[];
  /** Adds what the counters just taken say to the tally. */
  finish(tally: MacTally, counts: Uint32Array[]): void;
}

/** Hooks a converted (D2DMoE) model installs to route and count. */
export interface RoutingHooks {
  /** Conversion details. */
  info: MoeInfo;
  /**
   * Validates τ / top-k and starts a call.
   * @throws {InvalidInputError} When τ or k is out of range.
   */
  begin(be: Backend, opts: RunOptions): RoutingPass;
}

/** Everything {@link Model} is built from (see `loadModel`). */
export interface ModelParts {
  /** Model id (folder name unless given). */
  id: string;
  /** Folder the model came from. */
  dir: string;
  /** Parsed config. */
  config: ModelConfig;
  /** The network on `backend`. */
  net: Net;
  /** Owner of the network's uploaded weights. */
  loader: { freeAll(): void };
  /** The backend. */
  backend: Backend;
  /** True when the model owns (and disposes) the backend. */
  ownsBackend: boolean;
  /** Tokenizer, when the folder has one. */
  tokenizer: TextTokenizer | null;
  /** Routing hooks of a converted model. */
  routing?: RoutingHooks;
}

/** τ / top-k on a dense model: τ must still be valid (it changes nothing); top-k needs experts. */
function checkDenseOptions(opts: RunOptions): void {
  if (opts.tau !== undefined && !(opts.tau >= 0 && opts.tau <= 1)) {
    throw new InvalidInputError("tau", `must be a number in [0, 1], got ${opts.tau}`);
  }
  if (opts.moeTopK !== undefined) {
    throw new InvalidInputError("moeTopK", "this model is not converted: it has no experts to choose from");
  }
}

function softmax(x: Float32Array): number[] {
  const m = Math.max(...x);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** A loaded model. Create with `loadModel()`; dispose to free GPU memory. */
export class Model implements Disposable {
  /** Model id (used by the server's `model` field). */
  readonly id: string;
  /** Folder it was loaded from. */
  readonly dir: string;
  /** Parsed config. */
  readonly config: ModelConfig;
  /** Tokenizer, or null when the folder has none (pass token ids then). */
  readonly tokenizer: TextTokenizer | null;
  /** The backend it runs on. */
  readonly backend: Backend;
  readonly #net: Net;
  readonly #loader: { freeAll(): void };
  readonly #ownsBackend: boolean;
  #routing: RoutingHooks | undefined;
  readonly #lock = new Mutex();
  #disposed = false;
  /** Watches attention-projection inputs during calls (set by converters; see `PassContext.probe`). */
  probe: PassContext["probe"] = undefined;

  /** @param parts What the model is built from (see `loadModel`). */
  constructor(parts: ModelParts) {
    this.id = parts.id;
    this.dir = parts.dir;
    this.config = parts.config;
    this.tokenizer = parts.tokenizer;
    this.backend = parts.backend;
    this.#net = parts.net;
    this.#loader = parts.loader;
    this.#ownsBackend = parts.ownsBackend;
    this.#routing = parts.routing;
  }

  /** The network (for converters and tests). */
  get net(): Net {
    return this.#net;
  }

  /**
   * Swaps every block's FFN (used by the converter: calibration layers, then the final experts).
   * The caller owns the new layers' weights; the old layers' weights stay allocated until dispose.
   * @param ffns One layer per block.
   * @param routing Routing hooks for the new layers (undefined for dense layers).
   * @throws {RangeError} When the count does not match the blocks.
   */
  replaceFfns(ffns: FeedForward[], routing: RoutingHooks | undefined): void {
    const blocks = this.#net.blocks;
    if (ffns.length !== blocks.length) {
      throw new RangeError(`replaceFfns: ${ffns.length} layers for ${blocks.length} blocks`);
    }
    blocks.forEach((b, i) => (b.ffn = ffns[i]));
    this.#routing = routing;
  }

  /**
   * Installs converted attention projections (`convert --attention`) on every block, or removes them
   * (undefined entries). The caller owns their weights.
   * @param proj One entry per block.
   * @throws {RangeError} When the count does not match the blocks, the family has no such attention, or an
   *   entry would remove the projections of a block that has no dense ones.
   */
  setAttentionProjections(proj: (AttentionProjections | undefined)[]): void {
    const blocks = this.#net.blocks;
    if (this.config.family === "use") {
      throw new RangeError("attention projections can be converted for BERT, GPT-2 and ViT, not USE");
    }
    if (proj.length !== blocks.length) {
      throw new RangeError(`setAttentionProjections: ${proj.length} entries for ${blocks.length} blocks`);
    }
    const attn = (blocks as { attn: AttentionParams }[]).map((b) => b.attn);
    attn.forEach((a, i) => {
      if (!proj[i] && !a.wqkv) {
        throw new RangeError(
          `setAttentionProjections: block ${i} has no dense projections to fall back to (its converted folder ` +
            `does not ship them)`,
        );
      }
    });
    attn.forEach((a, i) => (a.proj = proj[i]));
  }

  /** The converted attention projections of every block (undefined where dense). */
  get attentionProjections(): (AttentionProjections | undefined)[] {
    if (this.config.family === "use") return this.#net.blocks.map(() => undefined);
    return (this.#net.blocks as { attn: AttentionParams }[]).map((b) => b.attn.proj);
  }

  /** The feed-forward layer of every block, in order. */
  get ffnLayers(): FeedForward[] {
    return this.#net.blocks.map((b) => b.ffn);
  }

  /** Conversion details of a D2DMoE model, or null for a dense one. */
  get moe(): MoeInfo | null {
    return this.#routing?.info ?? null;
  }

  /** What the backend is. */
  get device(): BackendInfo {
    return this.backend.info;
  }

  /** Calls queued or running on this model's device. */
  get queueDepth(): number {
    return this.#lock.pending;
  }

  /** What this model can do. */
  get capabilities(): { generate: boolean; embed: boolean; classify: boolean } {
    const c = this.config;
    return {
      generate: c.family === "gpt2",
      embed: c.family === "bert" || c.family === "use",
      classify: (c.family === "bert" && c.task === "sequence-classification") ||
        (c.family === "vit" && c.task === "image-classification"),
    };
  }

  #check(): void {
    if (this.#disposed) throw new Error(`model ${this.id} has been disposed`);
  }

  /** Runs `fn` with a fresh pass context under the model's lock; `read` also reads the routing counters. */
  #run<T>(
    opts: RunOptions,
    fn: (pass: PassContext, read: (ts: Tensor[]) => Promise<(Float32Array | Uint32Array)[]>) => Promise<T>,
  ): Promise<T> {
    this.#check();
    if (!this.#routing) checkDenseOptions(opts);
    return this.#lock.run(async () => {
      this.#check();
      const be = this.backend;
      const tally = new MacTally();
      const rp = this.#routing?.begin(be, opts);
      const pass: PassContext = {
        be,
        batch: 1,
        seq: 1,
        layer: 0,
        tally,
        routing: rp?.routing,
        probe: this.probe,
      };
      try {
        return await fn(pass, async (ts) => {
          const counters = rp?.take() ?? [];
          const all = await be.read([...ts, ...counters]);
          be.release(...counters);
          rp?.finish(tally, all.slice(ts.length) as Uint32Array[]);
          return all.slice(0, ts.length);
        });
      } finally {
        be.release(...(rp?.take() ?? []));
      }
    });
  }

  /**
   * Runs the network on fixture-format inputs.
   * @param inputs `input_ids` (+ `attention_mask`, `token_type_ids`) or `pixel_values`.
   * @param opts τ / top-k for converted models.
   * @returns Logits, hidden states and stats.
   * @throws {InvalidInputError} On malformed or out-of-range inputs.
   */
  forward(inputs: ForwardInputs, opts: ForwardOptions = {}): Promise<ForwardOutput> {
    const net = this.#net;
    if (net instanceof UseNet) {
      throw new InvalidInputError(
        "model",
        `${this.id} is a sentence encoder; use embed() (the CLI's embed command)`,
      );
    }
    if (net instanceof VitNet) return this.#forwardVit(net, inputs, opts);
    if (net instanceof BertNet) return this.#forwardBert(net, inputs, opts);
    return this.#forwardGpt2(net, inputs, opts);
  }

  #forwardBert(net: BertNet, inputs: ForwardInputs, opts: RunOptions): Promise<ForwardOutput> {
    const cfg = net.config;
    const ids = checkIdRows(inputs.input_ids, "input_ids", cfg.vocabSize, cfg.maxPositions);
    const mask = inputs.attention_mask
      ? checkAlignedRows(inputs.attention_mask, "attention_mask", ids, 2)
      : null;
    const types = inputs.token_type_ids
      ? checkAlignedRows(inputs.token_type_ids, "token_type_ids", ids, cfg.typeVocabSize)
      : null;
    return this.#run(opts, async (pass, read) => {
      const { hidden, pooled, logits, batch, seq } = this.#encodeBert(net, pass, ids, mask, types);
      const outs = [hidden, ...(logits ? [logits] : [])];
      const got = await read(outs);
      this.backend.release(hidden, pooled, logits);
      return {
        last_hidden_state: { data: got[0] as Float32Array, shape: [batch, seq, cfg.hidden] },
        logits: logits ? { data: got[1] as Float32Array, shape: [batch, cfg.labels.length] } : null,
        stats: pass.tally.toStats(),
      };
    });
  }

  /** Records a BERT pass: embeddings → encoder → pooler/classifier. Caller releases the outputs. */
  #encodeBert(
    net: BertNet,
    pass: PassContext,
    ids: number[][],
    mask: number[][] | null,
    types: number[][] | null,
  ) {
    const be = this.backend, cfg = net.config;
    const batch = ids.length, seq = ids[0].length;
    pass.batch = batch;
    pass.seq = seq;
    const positions = new Uint32Array(batch * seq).map((_, i) => i % seq);
    const tIds = be.input(flattenU32(ids), [batch * seq]);
    const tPos = be.input(positions, [batch * seq]);
    const tTypes = be.input(types ? flattenU32(types) : new Uint32Array(batch * seq), [batch * seq]);
    const tMask = be.input(mask ? flattenU32(mask) : new Uint32Array(batch * seq).fill(1), [batch, seq]);
    const hidden = net.encode(pass, { ids: tIds, positions: tPos, types: tTypes, mask: tMask });
    const { pooled, logits } = net.head(be, hidden, batch, seq);
    be.release(tIds, tPos, tTypes, tMask);
    const t = pass.tally;
    t.tokens += batch * seq;
    t.other += cfg.layers * batch * attentionMacs(cfg.hidden, seq, seq);
    if (pooled) t.other += batch * cfg.hidden * cfg.hidden;
    if (logits) t.other += batch * cfg.hidden * cfg.labels.length;
    return { hidden, pooled, logits, batch, seq };
  }

  #forwardVit(net: VitNet, inputs: ForwardInputs, opts: RunOptions): Promise<ForwardOutput> {
    const cfg = net.config;
    const { data, batch } = flattenPixels(inputs.pixel_values, cfg.numChannels, cfg.imageSize);
    return this.#run(opts, async (pass, read) => {
      const be = this.backend;
      const seq = net.patches + 1;
      pass.batch = batch;
      pass.seq = seq;
      const pix = be.input(data, [batch, cfg.numChannels, cfg.imageSize, cfg.imageSize]);
      const hidden = net.encode(pass, pix);
      const logits = net.head(be, hidden, batch);
      be.release(pix);
      const t = pass.tally;
      t.tokens += batch * seq;
      t.other += batch * net.patches * cfg.hidden * cfg.numChannels * cfg.patchSize ** 2 +
        cfg.layers * batch * attentionMacs(cfg.hidden, seq, seq) +
        (logits ? batch * cfg.hidden * cfg.labels.length : 0);
      const got = await read(logits ? [hidden, logits] : [hidden]);
      be.release(hidden, logits);
      return {
        last_hidden_state: { data: got[0] as Float32Array, shape: [batch, seq, cfg.hidden] },
        logits: logits ? { data: got[1] as Float32Array, shape: [batch, cfg.labels.length] } : null,
        stats: t.toStats(),
      };
    });
  }

  #forwardGpt2(net: Gpt2Net, inputs: ForwardInputs, opts: ForwardOptions): Promise<ForwardOutput> {
    const cfg = net.config;
    const ids = checkIdRows(inputs.input_ids, "input_ids", cfg.vocabSize, cfg.maxPositions);
    const mask = inputs.attention_mask
      ? checkAlignedRows(inputs.attention_mask, "attention_mask", ids, 2)
      : null;
    return this.#run(opts, async (pass, read) => {
      const be = this.backend;
      const batch = ids.length, seq = ids[0].length;
      pass.batch = batch;
      pass.seq = seq;
      const tIds = be.input(flattenU32(ids), [batch * seq]);
      const tPos = be.input(new Uint32Array(batch * seq).map((_, i) => i % seq), [batch * seq]);
      const tMask = mask ? be.input(flattenU32(mask), [batch, seq]) : undefined;
      const hidden = net.decode(pass, tIds, tPos, tMask);
      if (opts.outputs === "hidden") {
        be.release(tIds, tPos, tMask);
        this.#tallyGpt2(pass.tally, batch, seq, 0, 0);
        const [h] = await read([hidden]);
        be.release(hidden);
        return {
          logits: null,
          last_hidden_state: { data: h as Float32Array, shape: [batch, seq, cfg.hidden] },
          stats: pass.tally.toStats(),
        };
      }
      const logits = net.logits(be, hidden);
      be.release(tIds, tPos, tMask, hidden);
      this.#tallyGpt2(pass.tally, batch, seq, 0, batch * seq);
      const [data] = await read([logits]);
      be.release(logits);
      return {
        logits: { data: data as Float32Array, shape: [batch, seq, cfg.vocabSize] },
        last_hidden_state: null,
        stats: pass.tally.toStats(),
      };
    });
  }

  /** MACs of a GPT-2 pass over `seq` new tokens after `past` cached ones, with `headRows` LM-head rows. */
  #tallyGpt2(t: MacTally, batch: number, seq: number, past: number, headRows: number): void {
    const cfg = this.config;
    const keys = seq * past + (seq * (seq + 1)) / 2; // visible keys summed over the new queries
    t.tokens += batch * seq;
    t.other += cfg.layers * batch * (seq * 4 * cfg.hidden * cfg.hidden + 2 * keys * cfg.hidden) +
      headRows * cfg.hidden * (cfg as { vocabSize: number }).vocabSize;
  }

  /**
   * Language-model loss: each row's tokens predicted from the ones before (teacher forcing). Logits stay
   * on the device; only one loss per token is read back.
   * @param ids Token-id rows of equal length (≥ 2 tokens each).
   * @param opts τ / top-k.
   * @returns Summed NLL, predicted tokens, perplexity and stats.
   * @throws {InvalidInputError} For non-GPT-2 models or invalid ids.
   */
  loss(ids: number[][], opts: RunOptions = {}): Promise<LossResult> {
    const net = this.#net;
    if (!(net instanceof Gpt2Net)) throw new InvalidInputError("model", `${this.id} is not a language model`);
    const cfg = net.config;
    checkIdRows(ids, "input_ids", cfg.vocabSize, cfg.maxPositions);
    if (ids[0].length < 2) {
      throw new InvalidInputError("input_ids", "rows need at least 2 tokens to predict one");
    }
    return this.#run(opts, async (pass, read) => {
      const be = this.backend;
      const batch = ids.length, seq = ids[0].length, C = cfg.hidden, V = cfg.vocabSize;
      pass.batch = batch;
      pass.seq = seq;
      const tIds = be.input(flattenU32(ids), [batch * seq]);
      const tPos = be.input(new Uint32Array(batch * seq).map((_, i) => i % seq), [batch * seq]);
      const hidden = net.decode(pass, tIds, tPos);
      be.release(tIds, tPos);
      this.#tallyGpt2(pass.tally, batch, seq, 0, batch * seq);
      const targets = new Uint32Array(batch * seq).map((
        _,
        i,
      ) => (i % seq === seq - 1 ? NO_TARGET : ids[Math.floor(i / seq)][(i % seq) + 1]));
      const rows = batch * seq;
      // Logits are [rows, V]: cut into chunks the device can bind, submitting between chunks so the pool reuses them.
      const chunk = Math.max(1, Math.min(rows, Math.floor(be.info.maxTensorBytes / (4 * V))));
      const losses: Tensor[] = [];
      for (let r0 = 0; r0 < rows; r0 += chunk) {
        const n = Math.min(chunk, rows - r0);
        const h = be.alloc([n, C]);
        be.stridedCopy(hidden, h, {
          nb: 1,
          nt: n,
          nc: C,
          srcOffset: r0 * C,
          srcB: 0,
          srcT: C,
          dstOffset: 0,
          dstB: 0,
          dstT: C,
        });
        const logits = net.logits(be, h);
        const tt = be.input(targets.subarray(r0, r0 + n), [n]);
        losses.push(be.crossEntropy(logits, tt));
        be.release(h, logits, tt);
        if (r0 + n < rows) be.flush();
      }
      be.release(hidden);
      const got = await read(losses);
      be.release(...losses);
      let nll = 0;
      for (const l of got) for (const v of l as Float32Array) nll += v;
      const tokens = batch * (seq - 1);
      return { nll, tokens, perplexity: Math.exp(nll / tokens), stats: pass.tally.toStats() };
    });
  }

  /**
   * Generates tokens after a prompt with a KV cache: the prompt is processed once, then one token per
   * step, each step one submit and one readback.
   * @param prompt Token ids, or text when the model has a tokenizer.
   * @param opts Length, sampling, stop rules, τ.
   * @returns New tokens, why generation stopped, and stats.
   * @throws {InvalidInputError} When the model cannot generate or inputs are out of range.
   */
  generate(prompt: number[] | string, opts: GenerateOptions = {}): Promise<GenerateResult> {
    const net = this.#net;
    if (!(net instanceof Gpt2Net)) {
      throw new InvalidInputError(
        "model",
        `${this.id} is a ${this.config.family} model; only GPT-2 models generate`,
      );
    }
    const cfg = net.config;
    const ids = typeof prompt === "string" ? this.#tokenize(prompt, "prompt") : prompt;
    checkIdRows([ids], "prompt", cfg.vocabSize, cfg.maxPositions);
    const maxTokens = opts.maxTokens ?? 16;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) {
      throw new InvalidInputError("max_tokens", `must be a non-negative integer, got ${maxTokens}`);
    }
    if (ids.length + maxTokens > cfg.maxPositions) {
      throw new InvalidInputError(
        "max_tokens",
        `prompt (${ids.length}) + max_tokens (${maxTokens}) exceeds the model's context of ${cfg.maxPositions} tokens`,
      );
    }
    const sampler = new Sampler(opts);
    const eos = opts.eosTokenId === undefined
      ? (cfg.eosTokenId !== null && cfg.eosTokenId < cfg.vocabSize ? cfg.eosTokenId : null)
      : opts.eosTokenId;
    const stops = (opts.stop ?? []).filter((s) => s.length > 0);
    return this.#run(opts, async (pass, read) => {
      const be = this.backend;
      const cache: KvCache = net.createCache(be, 1, ids.length + Math.max(1, maxTokens));
      /**
       * Records one decode step over `tIds` (u32 [seq]); returns its logits [1, vocab] and its MACs, kept
       * apart until the step's token is taken (a step recorded ahead may be dropped).
       */
      const record = (tIds: Tensor, seq: number): { logits: Tensor; tally: MacTally } => {
        const main = pass.tally;
        const tally = pass.tally = new MacTally();
        pass.batch = 1;
        pass.seq = seq;
        const past = cache.length;
        this.#tallyGpt2(tally, 1, seq, past, 1);
        const tPos = be.input(Uint32Array.from({ length: seq }, (_, i) => past + i), [seq]);
        // Hidden states before ln_f; ln_f runs on the last row only, fused into the LM head.
        const hidden = net.decode(pass, tIds, tPos, undefined, cache, { finalNorm: false });
        let last = hidden;
        if (seq > 1) {
          last = be.alloc([1, cfg.hidden]);
          be.stridedCopy(hidden, last, {
            nb: 1,
            nt: 1,
            nc: cfg.hidden,
            srcOffset: (seq - 1) * cfg.hidden,
            srcB: 0,
            srcT: 0,
            dstOffset: 0,
            dstB: 0,
            dstT: 0,
          });
        }
        const logits = net.logits(be, last, true);
        be.release(tPos, hidden, last === hidden ? undefined : last);
        pass.tally = main;
        return { logits, tally };
      };
      const out: number[] = [];
      let reason: GenerateResult["finish_reason"] = "length";
      /** Takes a new token; false when generation ends with it (EOS, a stop sequence, `onToken`). */
      const accept = (next: number): boolean => {
        if (next === eos) {
          reason = "eos";
          return false;
        }
        out.push(next);
        const stopHit = stops.find((s) =>
          s.length <= out.length && s.every((v, i) => out[out.length - s.length + i] === v)
        );
        if (stopHit) {
          out.splice(out.length - stopHit.length);
          reason = "stop";
          return false;
        }
        if (opts.onToken?.(next) === false) {
          reason = "stop";
          return false;
        }
        return true;
      };
      const aborted = () => {
        if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("aborted", "AbortError");
      };
      let ahead: Tensor | null = null; // greedy: the token of the step recorded ahead, on the device
      let reading: Tensor | null = null; // greedy: the token being read
      try {
        if (sampler.greedy && maxTokens > 0) {
          // Greedy: argmax on the GPU, whose u32 output is the next step's input ids. Step t+1 is recorded
          // and submitted before step t's 4-byte token is read, so recording overlaps the GPU's work; when
          // generation stops early, the one step ahead is dropped (not tallied, its counters unread).
          const tIds = be.input(Uint32Array.from(ids), [ids.length]);
          let rec = record(tIds, ids.length);
          be.release(tIds);
          ahead = be.argmax(rec.logits);
          be.release(rec.logits);
          for (let step = 0; step < maxTokens; step++) {
            aborted();
            reading = ahead!;
            ahead = null;
            const tally = rec.tally;
            const pending = read([reading]); // submits this step, starts the readback
            pending.catch(() => {}); // awaited below; not "unhandled" if recording ahead throws first
            if (step + 1 < maxTokens) {
              rec = record(reading, 1);
              ahead = be.argmax(rec.logits);
              be.release(rec.logits);
              be.flush();
            }
            const [got] = await pending;
            be.release(reading);
            reading = null;
            pass.tally.merge(tally);
            if (!accept((got as Uint32Array)[0])) break;
          }
        } else {
          let feed = ids;
          for (let step = 0; step < maxTokens; step++) {
            aborted();
            const tIds = be.input(Uint32Array.from(feed), [feed.length]);
            const { logits, tally } = record(tIds, feed.length);
            be.release(tIds);
            pass.tally.merge(tally);
            const [row] = await read([logits]);
            be.release(logits);
            const next = sampler.next(row as Float32Array);
            if (!accept(next)) break;
            feed = [next];
          }
        }
      } finally {
        be.release(...[ahead, reading].filter((t) => t !== null));
        net.freeCache(be, cache);
      }
      return {
        token_ids: out,
        finish_reason: reason,
        prompt_tokens: ids.length,
        stats: pass.tally.toStats(),
      };
    });
  }

  #tokenize(text: string, param: string): number[] {
    if (!this.tokenizer) {
      throw new InvalidInputError(param, `model ${this.id} has no tokenizer; pass token ids instead of text`);
    }
    return this.tokenizer.encode(text);
  }

  /** Tokenizes texts for an encoder, truncating to the context (keeping the final [SEP]). */
  #encodeTexts(texts: (string | number[])[], param: string): number[][] {
    if (!Array.isArray(texts) || texts.length === 0) {
      throw new InvalidInputError(param, "expected a non-empty array");
    }
    const cfg = this.config as { maxPositions: number };
    const sep = this.tokenizer?.specialIds.sep;
    return texts.map((t, i) => {
      if (typeof t !== "string" && !Array.isArray(t)) {
        throw new InvalidInputError(param, `entry ${i} must be a string or an array of token ids`);
      }
      let ids = typeof t === "string" ? this.#tokenize(t, param) : t;
      if (ids.length === 0) throw new InvalidInputError(param, `entry ${i} has no tokens`);
      if (ids.length > cfg.maxPositions) {
        ids = [...ids.slice(0, cfg.maxPositions - 1), sep ?? ids[ids.length - 1]];
      }
      return ids;
    });
  }

  /** Pads rows to equal length; returns ids and the attention mask. */
  #pad(rows: number[][]): { ids: number[][]; mask: number[][] } {
    const len = Math.max(...rows.map((r) => r.length));
    const pad = (this.config as { padTokenId?: number }).padTokenId ?? 0;
    return {
      ids: rows.map((r) => [...r, ...new Array(len - r.length).fill(pad)]),
      mask: rows.map((r) => [...new Array(r.length).fill(1), ...new Array(len - r.length).fill(0)]),
    };
  }

  /**
   * Sentence embeddings from an encoder (mean of the last hidden states over real tokens by default).
   * @param inputs Texts (needs a tokenizer) or token-id rows.
   * @param opts Pooling, normalisation, τ.
   * @returns One vector per input, token counts and stats.
   * @throws {InvalidInputError} When the model is not an encoder or inputs are invalid.
   */
  embed(inputs: (string | number[])[], opts: EmbedOptions = {}): Promise<EmbedResult> {
    const net = this.#net;
    if (net instanceof UseNet) return this.#embedUse(net, inputs, opts);
    if (!(net instanceof BertNet)) {
      throw new InvalidInputError(
        "model",
        `${this.id} is a ${this.config.family} model; embeddings need an encoder (BERT)`,
      );
    }
    const rows = this.#encodeTexts(inputs, "input");
    checkIdRows(rows.map((r) => r.slice(0, 1)), "input", net.config.vocabSize, Infinity);
    rows.forEach((r) => checkIdRows([r], "input", net.config.vocabSize, net.config.maxPositions));
    const { ids, mask } = this.#pad(rows);
    return this.#run(opts, async (pass, read) => {
      const be = this.backend;
      const { hidden, pooled, logits, batch, seq } = this.#encodeBert(net, pass, ids, mask, null);
      let vec: Tensor;
      if (opts.pooling === "cls") {
        vec = be.alloc([batch, net.config.hidden]);
        be.stridedCopy(hidden, vec, {
          nb: batch,
          nt: 1,
          nc: net.config.hidden,
          srcOffset: 0,
          srcB: seq * net.config.hidden,
          srcT: 0,
          dstOffset: 0,
          dstB: net.config.hidden,
          dstT: 0,
        });
      } else {
        const tMask = be.input(flattenU32(mask), [batch, seq]);
        vec = be.meanPool(hidden, tMask, batch, seq);
        be.release(tMask);
      }
      be.release(hidden, pooled, logits);
      const [data] = await read([vec]);
      be.release(vec);
      const C = net.config.hidden;
      const embeddings = Array.from({ length: batch }, (_, b) => {
        const v = (data as Float32Array).slice(b * C, (b + 1) * C);
        if (opts.normalize !== false) {
          const n = Math.hypot(...v) || 1;
          for (let i = 0; i < C; i++) v[i] /= n;
        }
        return v;
      });
      return { embeddings, token_counts: rows.map((r) => r.length), stats: pass.tally.toStats() };
    });
  }

  /** USE lite: its own tokenizer (first 128 tokens, no special tokens), masked mean, tanh, L2. */
  #embedUse(net: UseNet, inputs: (string | number[])[], opts: EmbedOptions): Promise<EmbedResult> {
    if (opts.pooling === "cls") {
      throw new InvalidInputError("pooling", "this sentence encoder pools by mean only");
    }
    if (!Array.isArray(inputs) || inputs.length === 0) {
      throw new InvalidInputError("input", "expected a non-empty array");
    }
    const rows = inputs.map((t, i) => {
      if (typeof t === "string") return this.#tokenize(t, "input");
      if (Array.isArray(t)) return t;
      throw new InvalidInputError("input", `entry ${i} must be a string or an array of token ids`);
    });
    let b: ReturnType<typeof padUseBatch>;
    try {
      b = padUseBatch(rows);
    } catch (e) {
      throw new InvalidInputError("input", (e as Error).message);
    }
    return this.#run(opts, async (pass, read) => {
      const be = this.backend;
      pass.batch = b.batch;
      pass.seq = b.seq;
      const ids = be.input(b.ids, [b.batch * b.seq]), mask = be.input(b.mask, [b.batch, b.seq]);
      const out = net.encode(pass, ids, mask);
      be.release(ids, mask);
      pass.tally.tokens += b.batch * b.seq;
      pass.tally.other += net.macs(b.batch, b.seq);
      const [data] = await read([out]);
      be.release(out);
      const f = data as Float32Array, C = net.hidden;
      const embeddings = opts.normalize === false
        ? Array.from({ length: b.batch }, (_, i) => f.slice(i * C, (i + 1) * C))
        : l2NormalizeRows(f, b.batch, C);
      return { embeddings, token_counts: b.lengths, stats: pass.tally.toStats() };
    });
  }

  /**
   * Classifies texts (BERT sequence classifier) or images (ViT image classifier).
   * @param inputs Texts / token-id rows, or images `[channels][height][width]`.
   * @param opts τ / top-k.
   * @returns Per input, every label with its softmax score, best first.
   * @throws {InvalidInputError} When the model has no classification head or inputs are invalid.
   */
  async classify(
    inputs: (string | number[])[] | number[][][][],
    opts: RunOptions = {},
  ): Promise<ClassifyResult> {
    const cfg = this.config;
    if (!this.capabilities.classify) {
      throw new InvalidInputError("model", `${this.id} has no classification head`);
    }
    let out: ForwardOutput;
    if (cfg.family === "vit") {
      out = await this.forward({ pixel_values: inputs as number[][][][] }, opts);
    } else {
      const { ids, mask } = this.#pad(this.#encodeTexts(inputs as (string | number[])[], "input"));
      out = await this.forward({ input_ids: ids, attention_mask: mask }, opts);
    }
    const labels = (cfg as { labels: string[] }).labels;
    const L = labels.length;
    const logits = out.logits!;
    const results = Array.from(
      { length: logits.shape[0] },
      (_, b) =>
        softmax(logits.data.subarray(b * L, (b + 1) * L))
          .map((score, i) => ({ label: labels[i], score }))
          .sort((a, b) => b.score - a.score),
    );
    return { results, stats: out.stats };
  }

  /** Frees the model's weights (and its backend, when it owns it). */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#loader.freeAll();
    if (this.#ownsBackend) this.backend[Symbol.dispose]();
  }

  /** Same as `[Symbol.dispose]()`. */
  dispose(): void {
    this[Symbol.dispose]();
  }
}
