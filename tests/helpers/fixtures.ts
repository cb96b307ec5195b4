/**
 * Paths of the Hugging Face reference fixtures kept in the repository (written by transformers).
 * @module
 */
import { fileURLToPath } from "node:url";

/** Folder holding the five tiny checkpoints. */
export const FIXTURES: string = fileURLToPath(new URL("../fixtures/hf-tiny", import.meta.url));

/** The fixture names. */
export const FIXTURE_NAMES = [
  "tiny-bert-gelu",
  "tiny-bert-relu",
  "tiny-gpt2-gelu",
  "tiny-gpt2-relu",
  "tiny-vit",
] as const;

/**
 * Path of one fixture.
 * @param name Fixture name.
 * @returns Absolute folder path.
 */
export function fixture(name: (typeof FIXTURE_NAMES)[number]): string {
  return `${FIXTURES}/${name}`;
}
