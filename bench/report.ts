/**
 * The benchmark's output: a markdown table of medians with wasm's speed-up over each peer, and
 * the JSON form of the same numbers.
 * @module
 */
import os from 'node:os';
import { IMPLS, type Impl } from './ops.js';

export interface Cell {
  op: string;
  impl: Impl;
  median_ms: number;
}

const PEERS = IMPLS.filter((i) => i !== 'wasm');
const NONE = '–';

/** Milliseconds with about three significant digits. */
export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

/** How many times faster wasm is than a peer (below 1: slower). */
export function formatRatio(peerMs: number, wasmMs: number): string {
  const r = peerMs / wasmMs;
  if (r >= 10) return `${r.toFixed(0)}×`;
  return `${r >= 1 ? r.toFixed(1) : r.toPrecision(2)}×`;
}

/** One line naming the machine and the run. */
export function header(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const date = new Date().toISOString().slice(0, 10);
  return `Node ${process.version} · ${model} (${cpus.length} cores) · ${date} · median ms after warm-up`;
}

/** Caveats that apply to every row. */
export const GENERAL_NOTES = [
  'wasm is timed through its bigint API: conversion into and out of WASM memory is part of every call. gmp-wasm is timed on mpz operands already in its memory (conversions excluded). js-bigint is a sliding-window exponentiation on native BigInt (bench/js-bigint.ts).',
];

/** The markdown table, ops in the order first seen. */
export function table(cells: readonly Cell[]): string {
  const ops = [...new Set(cells.map((c) => c.op))];
  const cols = ['op', ...IMPLS, ...PEERS.map((p) => `wasm vs ${p}`)];
  const lines = [row(cols), row(cols.map((_, i) => (i === 0 ? '---' : '---:')))];
  for (const op of ops) {
    const ms = (impl: Impl) => cells.find((c) => c.op === op && c.impl === impl)?.median_ms;
    const wasm = ms('wasm');
    const times = IMPLS.map((impl) => {
      const t = ms(impl);
      return t === undefined ? NONE : formatMs(t);
    });
    const ratios = PEERS.map((peer) => {
      const t = ms(peer);
      return t === undefined || wasm === undefined ? NONE : formatRatio(t, wasm);
    });
    lines.push(row([op, ...times, ...ratios]));
  }
  return lines.join('\n');
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}
