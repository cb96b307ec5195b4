/**
 * Seeded generator of hostile HTTP requests for the server fuzzer: random bytes, wrong JSON types,
 * huge / negative / non-finite numbers, deep nesting, invalid UTF-8 and odd Unicode, empty and oversized
 * bodies, wrong methods and content types, long and malformed URLs, and (over raw TCP) broken HTTP
 * framing. The same seed gives the same cases.
 * @module
 */
import { Rng } from "../../src/util/rng.ts";

/** One request sent through `fetch`. */
export interface FetchCase {
  /** Always "fetch". */
  transport: "fetch";
  /** What the case exercises (for the summary). */
  kind: string;
  /** HTTP method. */
  method: string;
  /** Path and query (starts with "/"). */
  path: string;
  /** Request headers. */
  headers: Record<string, string>;
  /** Body bytes (none for GET / HEAD). */
  body: Uint8Array | null;
}

/** Bytes written to a raw TCP connection (for what `fetch` refuses to send). */
export interface TcpCase {
  /** Always "tcp". */
  transport: "tcp";
  /** What the case exercises. */
  kind: string;
  /** The bytes, sent as they are. */
  bytes: Uint8Array;
}

/** A fuzz case. */
export type FuzzCase = FetchCase | TcpCase;

/** What the generator needs to know about the server. */
export interface CaseOptions {
  /** The server's `maxBodyBytes` (oversized bodies are built around it). */
  maxBodyBytes: number;
  /** Share of raw TCP cases, 0..1 (default 0.25). */
  tcpShare?: number;
}

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

/** Inference routes and a valid body for each (token ids stay below the fixtures' vocabulary). */
export const ROUTE_BODIES: Record<string, Record<string, unknown>> = {
  "/v1/embeddings": { input: [[2, 10, 11, 3]], encoding_format: "float", tau: 0.1 },
  "/v1/completions": { prompt: [10, 336, 491], max_tokens: 2, temperature: 0 },
  "/v1/classify": { input: [[2, 10, 11, 3]], top_k: 2 },
};
const POST_ROUTES = Object.keys(ROUTE_BODIES);
const GET_ROUTES = ["/", "/health", "/info", "/metrics", "/v1/models", "/v1/models/default"];
const FIELDS: Record<string, string[]> = {
  "/v1/embeddings": [
    "input",
    "model",
    "encoding_format",
    "dimensions",
    "user",
    "tau",
    "compute_budget",
    "pooling",
    "normalize",
    "truncate",
  ],
  "/v1/completions": [
    "prompt",
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "n",
    "stream",
    "stream_options",
    "tau",
    "compute_budget",
    "echo",
    "logprobs",
    "suffix",
    "logit_bias",
    "best_of",
    "presence_penalty",
    "user",
  ],
  "/v1/classify": ["input", "model", "top_k", "truncate", "tau", "compute_budget", "user"],
};

/** Numbers as JSON text: huge, tiny, negative, non-finite after parsing, and not-quite-JSON spellings. */
const NUMBER_TEXTS = [
  "0",
  "-0",
  "-1",
  "1",
  "2",
  "0.5",
  "1e400",
  "-1e400",
  "1e-400",
  "1e308",
  "-1e308",
  "9007199254740993",
  "-9007199254740993",
  "4294967296",
  "2147483648",
  "65536",
  "1e9",
  "123456789012345678901234567890",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  "1_000",
  ".5",
  "+1",
  "01",
  "-",
  "1e",
  "5e-324",
];

/** Strings with odd Unicode (JSON-escaped where raw would not be valid UTF-8). */
const ODD_STRINGS = [
  "",
  " ",
  "\\u0000",
  "\\ud800",
  "\\udfff\\ud800",
  "a\\ud83d",
  "\\ud83d\\ude00",
  "\u202e\u202dreversed",
  "e\u0301".repeat(500),
  "\ufeffbom",
  "\uffff\ufffe",
  "\u{10ffff}",
  "👩‍👩‍👧‍👦".repeat(50),
  "\u200b\u200c\u200d",
  "\\n\\r\\t\\b\\f",
  "日本語のテキスト",
  "ﷺ".repeat(300),
  "<|endoftext|>",
  "[CLS] [SEP] [MASK] [PAD] [UNK]",
  "%s%n%x",
  "../../etc/passwd",
  "x".repeat(5000),
];

/** Byte sequences that are not valid UTF-8. */
const BAD_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
  [0xe2, 0x82],
  [0xf0, 0x9f, 0x98],
  [0xc3],
];

/** A random JSON value (as text) of any type, with a bias to the awkward. */
function randomJson(rng: Rng, depth = 0): string {
  switch (rng.int(depth > 2 ? 6 : 9)) {
    case 0:
      return ["null", "true", "false"][rng.int(3)];
    case 1:
    case 2:
      return NUMBER_TEXTS[rng.int(NUMBER_TEXTS.length)];
    case 3:
      return `"${ODD_STRINGS[rng.int(ODD_STRINGS.length)]}"`;
    case 4:
      return `[${Array.from({ length: rng.int(5) }, () => String(rng.int(600) - 50)).join(",")}]`;
    case 5:
      return ["[]", "{}", "[[]]", "[{}]", '[""]', "[[1],[2,3]]", `[${"1,".repeat(3000)}1]`][rng.int(7)];
    case 6:
      return `[${Array.from({ length: 1 + rng.int(4) }, () => randomJson(rng, depth + 1)).join(",")}]`;
    case 7:
      return `{${
        Array.from({ length: rng.int(4) }, () =>
          `"${["a", "input", "__proto__", "constructor", ""][rng.int(5)]}":${randomJson(rng, depth + 1)}`)
          .join(",")
      }}`;
    default:
      return `[[${Array.from({ length: 1 + rng.int(3) }, () => String(rng.int(700))).join(",")}]]`;
  }
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** A route's valid body as JSON text with `field` set to the raw JSON text `value`. */
function withField(route: string, field: string, value: string): string {
  const body = { ...ROUTE_BODIES[route] };
  delete body[field];
  const rest = JSON.stringify(body).slice(1, -1);
  return `{${rest}${rest ? "," : ""}"${field}":${value}}`;
}

function post(
  kind: string,
  path: string,
  body: Uint8Array | string | null,
  ct = "application/json",
): FetchCase {
  return {
    transport: "fetch",
    kind,
    method: "POST",
    path,
    headers: ct ? { "content-type": ct } : {},
    body: typeof body === "string" ? bytes(body) : body,
  };
}

type Gen = (rng: Rng, o: CaseOptions) => FuzzCase;

const GENERATORS: Record<string, Gen> = {
  "random-bytes": (rng) => post("random-bytes", pick(rng, POST_ROUTES), randomBytes(rng, rng.int(2048))),
  "wrong-types": (rng) => {
    const route = pick(rng, POST_ROUTES);
    return post("wrong-types", route, withField(route, pick(rng, FIELDS[route]), randomJson(rng)));
  },
  "numbers": (rng) => {
    const route = pick(rng, POST_ROUTES);
    const field = pick(rng, FIELDS[route]);
    const n = pick(rng, NUMBER_TEXTS);
    const value = rng.int(3) === 0 ? `[[${n}]]` : rng.int(2) ? `[${n}]` : n;
    return post("numbers", route, withField(route, field, value));
  },
  "deep-nesting": (rng, o) => {
    const route = pick(rng, POST_ROUTES);
    const depth = pick(rng, [33, 64, 1000, 10_000, 100_000, Math.floor(o.maxBodyBytes / 2) - 20]);
    const [open, close] = rng.int(2) ? ["[", "]"] : ['{"a":', "}"];
    const nested = open.repeat(depth) + "1" + (rng.int(4) === 0 ? "" : close.repeat(depth));
    return post("deep-nesting", route, rng.int(2) ? nested : withField(route, "input", nested));
  },
  "invalid-utf8": (rng) => {
    const route = pick(rng, POST_ROUTES);
    const text = withField(route, rng.int(2) ? "input" : "prompt", '"AB"');
    const at = text.indexOf("AB");
    const bad = new Uint8Array(pick(rng, BAD_UTF8));
    const b = bytes(text);
    const out = new Uint8Array(b.length + bad.length);
    out.set(b.subarray(0, at + 1));
    out.set(bad, at + 1);
    out.set(b.subarray(at + 1), at + 1 + bad.length);
    return post("invalid-utf8", route, out);
  },
  "odd-unicode": (rng) => {
    const route = pick(rng, POST_ROUTES);
    const s = pick(rng, ODD_STRINGS);
    const field = pick(rng, ["input", "prompt", "stop", "model", "user", "encoding_format", "pooling"]);
    const v = rng.int(2) ? `"${s}"` : `["${s}", "${pick(rng, ODD_STRINGS)}"]`;
    const body = rng.int(5) === 0 ? "\ufeff" + withField(route, field, v) : withField(route, field, v);
    return post("odd-unicode", route, body);
  },
  "body-size": (rng, o) => {
    const route = pick(rng, POST_ROUTES);
    const n = pick(rng, [0, 1, o.maxBodyBytes - 1, o.maxBodyBytes, o.maxBodyBytes + 1, o.maxBodyBytes * 3]);
    const fill = pick(rng, [" ", "x", "[", "{", "0"]);
    const body = n === 0
      ? ""
      : rng.int(2)
      ? fill.repeat(n)
      : `{"input": "${"a".repeat(Math.max(0, n - 14))}"}`;
    return post("body-size", route, body, rng.int(2) ? "application/json" : "");
  },
  "methods": (rng) => {
    const path = pick(rng, [...POST_ROUTES, ...GET_ROUTES, "/v1/chat/completions", "/v1"]);
    const method = pick(rng, ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "foo"]);
    const body = method === "GET" || method === "HEAD"
      ? null
      : bytes(JSON.stringify(ROUTE_BODIES[path] ?? {}));
    return { transport: "fetch", kind: "methods", method, path, headers: {}, body };
  },
  "content-types": (rng) => {
    const route = pick(rng, POST_ROUTES);
    const ct = pick(rng, [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
      "application/json; charset=utf-16",
      "image/png",
      "\u0001",
      "application/json, text/plain",
      ";;;;",
    ]);
    const body = ct.startsWith("application/x-www")
      ? "input=abc&model=x"
      : JSON.stringify(ROUTE_BODIES[route]);
    return post("content-types", route, body, ct.replace(/[^\t\x20-\x7e]/g, "?"));
  },
  "urls": (rng) => {
    const path = pick(rng, [
      "/" + "a".repeat(pick(rng, [1000, 8000, 60_000])),
      "/v1/models/" + "x".repeat(pick(rng, [300, 8000])),
      "/v1/models/%",
      "/v1/models/%zz%ff%c0%af",
      "/v1/models/%E0%A4%A",
      "/v1/models/..%2f..%2fetc%2fpasswd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "//v1//embeddings",
      "/v1/embeddings/",
      "/v1/embeddings?" + "q=1&".repeat(pick(rng, [10, 2000])),
      "/health?%ff=%fe",
      "/health#frag",
      "/v1/" + "a/".repeat(3000),
      "/%00",
      "/ü/日本",
      "/metrics?route=" + "x".repeat(4000),
    ]);
    const route = POST_ROUTES.find((r) => path.startsWith(r));
    const method = route || rng.int(2) ? "POST" : "GET";
    const body = method === "POST" ? bytes(JSON.stringify(ROUTE_BODIES[route ?? "/v1/embeddings"])) : null;
    return { transport: "fetch", kind: "urls", method, path, headers: {}, body };
  },
  "valid-mutations": (rng) => {
    const route = pick(rng, POST_ROUTES);
    const b: Record<string, unknown> = structuredClone(ROUTE_BODIES[route]);
    const ids = Array.from({ length: 1 + rng.int(rng.int(8) === 0 ? 100 : 12) }, () => rng.int(520));
    const text = () =>
      pick(rng, ["hello world", "the cat was in the house", ODD_STRINGS[rng.int(ODD_STRINGS.length)]]);
    if (route === "/v1/completions") {
      b.prompt = rng.int(4) === 0 ? [ids, ids.slice(0, 1)] : rng.int(4) === 0 ? text() : ids;
      b.max_tokens = rng.int(6);
      if (rng.int(2)) b.temperature = rng.next() * 2;
      if (rng.int(3) === 0) b.top_p = rng.next();
      if (rng.int(3) === 0) b.top_k = pick(rng, [-1, 0, 1, 5, 1e6]);
      if (rng.int(3) === 0) b.n = 1 + rng.int(4);
      if (rng.int(5) === 0) b.best_of = b.n ?? 1;
      if (rng.int(3) === 0) b.seed = pick(rng, [0, -5, 42, 2 ** 53 - 1]);
      if (rng.int(4) === 0) b.stop = pick(rng, ["\n", ["a", "the"], "", ["", "x"], "a".repeat(256)]);
      if (rng.int(4) === 0) b.stream = true;
      if (rng.int(6) === 0) b.stream_options = { include_usage: rng.int(2) === 0 };
      if (rng.int(8) === 0) Object.assign(b, { echo: false, logprobs: null, suffix: "", logit_bias: {} });
    } else {
      b.input = rng.int(3) === 0 ? text() : rng.int(2) ? ids : [ids, ids.slice(0, 2)];
      if (rng.int(3) === 0) b.tau = rng.next();
      if (rng.int(4) === 0) b.truncate = true;
      if (rng.int(4) === 0) b.encoding_format = "base64";
      if (rng.int(4) === 0) b.pooling = pick(rng, ["mean", "cls"]);
      if (rng.int(4) === 0) b.normalize = false;
    }
    if (rng.int(5) === 0) b.model = pick(rng, ["default", "tiny-gpt2-relu", "tiny-bert-relu", "gpt-4"]);
    return post("valid-mutations", route, JSON.stringify(b));
  },
  "images": (rng) => {
    // ViT classify input: [channels][height][width] (the fixture is 3 × 32 × 32), right and wrong.
    const c = pick(rng, [3, 3, 3, 1, 0]), h = pick(rng, [32, 32, 31, 0]), w = pick(rng, [32, 32, 33]);
    const v = () => pick(rng, ["0", "0.5", "-1", "1e38", "1e400", "-1e400", '"x"', "null", "[]"]);
    const good = rng.int(2) === 0;
    const img = `[${
      Array.from({ length: c }, () =>
        `[${
          Array.from({ length: h }, () =>
            `[${
              Array.from({ length: w }, () =>
                good ? String(rng.next()) : v()).join(",")
            }]`)
            .join(",")
        }]`).join(",")
    }]`;
    const input = rng.int(3) === 0 ? `[${img},${img}]` : img;
    return post("images", "/v1/classify", `{"input":${input}${rng.int(2) ? ',"top_k":1' : ""}}`);
  },
};

/** Raw TCP cases: what `fetch` cannot send (broken framing, invalid bytes in the request line). */
function tcpCase(rng: Rng): TcpCase {
  const route = pick(rng, POST_ROUTES);
  const json = JSON.stringify(ROUTE_BODIES[route]);
  const head = (line: string, headers: string[]) =>
    `${line}\r\n${["Host: x", ...headers].join("\r\n")}\r\n\r\n`;
  const kinds: [string, () => Uint8Array | string][] = [
    ["tcp-garbage", () => randomBytes(rng, 1 + rng.int(512))],
    ["tcp-http09", () => "GET /health\r\n\r\n"],
    ["tcp-bad-version", () => head(`GET /health HTTP/${pick(rng, ["2.0", "9.9", "1.x", "0.9", ""])}`, [])],
    [
      "tcp-bad-method",
      () => head(`${pick(rng, ["G\u0001T", "", "GET GET", "\u00ff"])} /health HTTP/1.1`, []),
    ],
    ["tcp-utf8-target", () => {
      const b = bytes(head("GET /v1/models/XX HTTP/1.1", ["Connection: close"]));
      const at = b.indexOf(0x58);
      b[at] = 0xff;
      b[at + 1] = 0xc0;
      return b;
    }],
    ["tcp-nul-target", () => head("GET /v1/\u0000models HTTP/1.1", ["Connection: close"])],
    ["tcp-absolute-target", () => head("GET http://evil.test/health HTTP/1.1", ["Connection: close"])],
    ["tcp-asterisk", () => head("OPTIONS * HTTP/1.1", ["Connection: close"])],
    ["tcp-h2-preface", () => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"],
    [
      "tcp-bad-header",
      () =>
        head("GET /health HTTP/1.1", [
          pick(rng, ["No-Colon", "Bad\u0001Name: x", " Leading: space", "X: a\r\n b"]),
        ]),
    ],
    ["tcp-cl-invalid", () =>
      head(`POST ${route} HTTP/1.1`, [
        `Content-Length: ${pick(rng, ["-1", "abc", "99999999999999999999", "1e3", " 5", "0x10"])}`,
        "Connection: close",
      ]) + json],
    [
      "tcp-cl-duplicate",
      () =>
        head(`POST ${route} HTTP/1.1`, [
          `Content-Length: ${json.length}`,
          "Content-Length: 3",
          "Connection: close",
        ]) +
        json,
    ],
    [
      "tcp-cl-short",
      () =>
        head(`POST ${route} HTTP/1.1`, [`Content-Length: ${json.length + 100}`, "Connection: close"]) + json,
    ],
    [
      "tcp-cl-long",
      () =>
        head(`POST ${route} HTTP/1.1`, [`Content-Length: ${json.length - 3}`, "Connection: close"]) + json,
    ],
    [
      "tcp-chunked-bad",
      () =>
        head(`POST ${route} HTTP/1.1`, ["Transfer-Encoding: chunked", "Connection: close"]) +
        pick(rng, [
          "zz\r\nabc\r\n0\r\n\r\n",
          "ffffffffffffffff\r\nabc\r\n",
          "3\r\nabcdef\r\n0\r\n\r\n",
          "5\r\nab",
        ]),
    ],
    [
      "tcp-cl-and-te",
      () =>
        head(`POST ${route} HTTP/1.1`, [
          "Content-Length: 4",
          "Transfer-Encoding: chunked",
          "Connection: close",
        ]) +
        `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`,
    ],
    [
      "tcp-te-unknown",
      () => head(`POST ${route} HTTP/1.1`, ["Transfer-Encoding: gzip, chunked", "Connection: close"]) + json,
    ],
    [
      "tcp-long-line",
      () => head(`GET /${"a".repeat(pick(rng, [10_000, 100_000]))} HTTP/1.1`, ["Connection: close"]),
    ],
    [
      "tcp-many-headers",
      () =>
        head(
          "GET /health HTTP/1.1",
          Array.from({ length: pick(rng, [200, 5000]) }, (_, i) => `X-${i}: ${i}`),
        ),
    ],
    [
      "tcp-huge-header",
      () => head("GET /health HTTP/1.1", [`X-Big: ${"v".repeat(pick(rng, [20_000, 500_000]))}`]),
    ],
    ["tcp-pipelined", () =>
      head("GET /health HTTP/1.1", []) +
      head(`POST ${route} HTTP/1.1`, [`Content-Length: ${json.length}`]) + json +
      pick(rng, ["GARBAGE\r\n\r\n", head("GET /info HTTP/1.1", ["Connection: close"])])],
    [
      "tcp-expect",
      () =>
        head(`POST ${route} HTTP/1.1`, [
          "Expect: 100-continue",
          "Content-Length: 99999999",
          "Connection: close",
        ]),
    ],
    ["tcp-invalid-json-utf8", () => {
      const body = new Uint8Array([...bytes('{"input": "'), 0xff, 0xfe, ...bytes('"}')]);
      return new Uint8Array([
        ...bytes(head(`POST ${route} HTTP/1.1`, [`Content-Length: ${body.length}`, "Connection: close"])),
        ...body,
      ]);
    }],
  ];
  const [kind, make] = pick(rng, kinds);
  const b = make();
  return { transport: "tcp", kind, bytes: typeof b === "string" ? bytes(b) : b };
}

/**
 * Generates fuzz cases.
 * @param seed PRNG seed (the same seed gives the same cases).
 * @param count Number of cases.
 * @param o Server limits and the TCP share.
 * @returns The cases, lazily.
 */
export function* generateCases(seed: number, count: number, o: CaseOptions): Generator<FuzzCase> {
  const rng = new Rng(seed);
  const names = Object.keys(GENERATORS);
  const tcpShare = o.tcpShare ?? 0.25;
  for (let i = 0; i < count; i++) {
    yield rng.next() < tcpShare ? tcpCase(rng) : GENERATORS[names[rng.int(names.length)]](rng, o);
  }
}
