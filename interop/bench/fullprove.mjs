// Times snarkjs `groth16.fullProve` (witness calculation and proof) in one
// Node process, for `zkgov-benches --bin peers`.
//
//   node fullprove.mjs CIRCUIT.wasm CIRCUIT.zkey INPUTS.json WARMUP
//
// INPUTS.json is an array of circuit inputs. The circuit and the key are
// read into memory once, as a long-running prover would hold them; then
// WARMUP proofs of the first input, then one proof of each input in turn.
// One JSON line per proof goes to stdout as soon as it is done:
//   {"warmup": true, "ms": 812.4}
//   {"case": 0, "ms": 790.1, "proof": {...}, "publicSignals": [...]}
// and a last line {"total_ms": ..., "cpu_ms": ...}: the wall time of the
// measured proofs, and the CPU time the process spent on them (every
// thread, snarkjs's workers included).
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import * as snarkjs from "snarkjs";

const [wasmPath, zkeyPath, inputsPath, warmupArg] = process.argv.slice(2);
if (!inputsPath) {
    console.error("usage: node fullprove.mjs CIRCUIT.wasm CIRCUIT.zkey INPUTS.json [WARMUP]");
    process.exit(2);
}
const wasm = new Uint8Array(readFileSync(wasmPath));
const zkey = new Uint8Array(readFileSync(zkeyPath));
const inputs = JSON.parse(readFileSync(inputsPath, "utf8"));
const warmup = Number(warmupArg ?? 1);

const line = (value) => process.stdout.write(JSON.stringify(value) + "\n");

for (let i = 0; i < warmup; i++) {
    const started = performance.now();
    await snarkjs.groth16.fullProve(inputs[0], wasm, zkey);
    line({ warmup: true, ms: performance.now() - started });
}

const cpu = process.cpuUsage();
const first = performance.now();
for (const [index, input] of inputs.entries()) {
    const started = performance.now();
    const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, wasm, zkey);
    line({ case: index, ms: performance.now() - started, proof, publicSignals });
}
const used = process.cpuUsage(cpu);
line({ total_ms: performance.now() - first, cpu_ms: (used.user + used.system) / 1e3 });

// snarkjs keeps its curve's worker threads alive; end them so that the
// process exits.
await globalThis.curve_bn128?.terminate();
