// Sign-In With Solana (auth.siws): the wallet-standard message text, as a
// wallet adapter writes it (PROTOCOL.md "Platform").

const HEADER = " wants you to sign in with your Solana account:";
const FIELDS = [
  ["URI", "uri"],
  ["Version", "version"],
  ["Chain ID", "chainId"],
  ["Nonce", "nonce"],
  ["Issued At", "issuedAt"],
  ["Expiration Time", "expirationTime"],
  ["Not Before", "notBefore"],
  ["Request ID", "requestId"],
];

/** ISO 8601 in UTC with seconds precision, as "2026-01-01T00:00:00Z". */
export function isoSeconds(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The text of a SIWS message. `fields`: {domain, address, statement?, uri?,
 * version?, chainId?, nonce?, issuedAt?, expirationTime?, notBefore?,
 * requestId?, resources?: string[]}; absent fields are left out.
 */
export function buildSiwsMessage(fields) {
  let out = `${fields.domain}${HEADER}\n${fields.address}`;
  if (fields.statement) out += `\n\n${fields.statement}`;
  const lines = [];
  for (const [label, name] of FIELDS) {
    if (fields[name] !== undefined && fields[name] !== null) lines.push(`${label}: ${fields[name]}`);
  }
  if (fields.resources?.length) {
    lines.push("Resources:");
    for (const r of fields.resources) lines.push(`- ${r}`);
  }
  if (lines.length) out += "\n\n" + lines.join("\n");
  return out;
}
