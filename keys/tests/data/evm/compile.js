'use strict';
// Compiles one Solidity file with the pinned solc-js (standard JSON) and
// writes the named contract's creation bytecode, method identifiers and
// warnings as JSON. Exits 1, printing them, on any error-severity message.
//
// Usage: node compile.js <source.sol> <contract name> <out.json>
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const [sourcePath, contractName, outPath] = process.argv.slice(2);
const file = path.basename(sourcePath);
const input = {
  language: 'Solidity',
  sources: { [file]: { content: fs.readFileSync(sourcePath, 'utf8') } },
  settings: {
    // Must match the hardfork of the EVM in run_verifier.js.
    evmVersion: 'prague',
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { [file]: { [contractName]: ['evm.bytecode.object', 'evm.methodIdentifiers'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const messages = output.errors || [];
const text = (m) => m.formattedMessage || m.message;
const errors = messages.filter((m) => m.severity === 'error');
if (errors.length > 0) {
  errors.forEach((m) => console.error(text(m)));
  process.exit(1);
}
const contract = ((output.contracts || {})[file] || {})[contractName];
if (!contract) {
  console.error(`solc produced no contract ${contractName} in ${file}`);
  process.exit(1);
}
fs.writeFileSync(
  outPath,
  JSON.stringify({
    solcVersion: solc.version(),
    bytecode: contract.evm.bytecode.object,
    methodIdentifiers: contract.evm.methodIdentifiers,
    warnings: messages.filter((m) => m.severity === 'warning').map(text),
  }),
);
