'use strict';
// Deploys a verifier contract on a local EVM (@ethereumjs/evm, Prague) and
// calls verifyProof once per case. Prints a JSON array with, per case, what
// the call returned, whether it reverted and the gas it used.
//
// Usage: node run_verifier.js <cases.json>, where cases.json is
// { "bytecode": hex, "selector": hex, "gasLimit": n, "cases": [{ "name", "calldata" }] }
// and each calldata is the argument list as `snarkjs zkey export
// soliditycalldata` prints it.
const fs = require('fs');
const { Common, Hardfork, Mainnet } = require('@ethereumjs/common');
const { createEVM } = require('@ethereumjs/evm');
const { Account, bytesToHex, createAddressFromString, hexToBytes } = require('@ethereumjs/util');

// Every argument of verifyProof is a static array of uint256, so its ABI
// encoding is the selector followed by the words in order.
function encodeCall(selector, calldata) {
  const words = JSON.parse(`[${calldata}]`).flat(2);
  return hexToBytes(`0x${selector}${words.map((w) => BigInt(w).toString(16).padStart(64, '0')).join('')}`);
}

async function main() {
  const { bytecode, selector, gasLimit, cases } = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Prague }) });
  const caller = createAddressFromString('0x00000000000000000000000000000000000000ee');
  await evm.stateManager.putAccount(caller, new Account(0n, 10n ** 18n));

  const deployment = await evm.runCall({ caller, data: hexToBytes(`0x${bytecode}`), gasLimit: BigInt(gasLimit) });
  if (deployment.execResult.exceptionError || deployment.createdAddress === undefined) {
    throw new Error(`deployment failed: ${JSON.stringify(deployment.execResult.exceptionError)}`);
  }

  const results = [];
  for (const { name, calldata } of cases) {
    const { execResult } = await evm.runCall({
      caller,
      to: deployment.createdAddress,
      data: encodeCall(selector, calldata),
      gasLimit: BigInt(gasLimit),
    });
    results.push({
      name,
      reverted: execResult.exceptionError ? String(execResult.exceptionError.error) : null,
      returned: bytesToHex(execResult.returnValue),
      gasUsed: Number(execResult.executionGasUsed),
    });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
