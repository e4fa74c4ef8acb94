// Recomputes registry roots with circomlibjs, from the DESIGN rules alone:
//   leaf  = Poseidon([subject, the other fields in schema order, salt]), or 0 when revoked
//   node  = Poseidon([child_0, ..., child_(k-1)])
//   empty subtrees: z0 = 0, z(i+1) = Poseidon([z(i)] * k)
//
// Usage: node registry_roots.js INPUT.json
// INPUT: {"registries": [{"arity": k, "depth": D, "subject": i,
//          "records": [{"values": ["<decimal>", ...], "salt": "<decimal>", "revoked": false}, ...]}]}
// Prints {"roots": ["<decimal>", ...], "leaves": [["<decimal>", ...], ...]}.
const fs = require("fs");
const { buildPoseidon } = require("circomlibjs");

async function main() {
  const poseidon = await buildPoseidon();
  const hash = (inputs) => poseidon.F.toObject(poseidon(inputs));
  const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const roots = [];
  const allLeaves = [];
  for (const registry of input.registries) {
    const { arity, depth, subject } = registry;
    const leaves = registry.records.map((record) => {
      if (record.revoked) return 0n;
      const values = record.values.map(BigInt);
      const others = values.filter((_, i) => i !== subject);
      return hash([values[subject], ...others, BigInt(record.salt)]);
    });
    if (BigInt(leaves.length) > BigInt(arity) ** BigInt(depth)) {
      throw new Error(`${leaves.length} leaves exceed arity^depth`);
    }
    let level = leaves;
    let zero = 0n;
    for (let height = 0; height < depth; height++) {
      const parents = [];
      for (let i = 0; i < level.length; i += arity) {
        const children = level.slice(i, i + arity);
        while (children.length < arity) children.push(zero);
        parents.push(hash(children));
      }
      zero = hash(new Array(arity).fill(zero));
      level = parents;
    }
    roots.push((level.length > 0 ? level[0] : zero).toString());
    allLeaves.push(leaves.map((l) => l.toString()));
  }
  process.stdout.write(JSON.stringify({ roots, leaves: allLeaves }) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
