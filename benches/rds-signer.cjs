// Time per IAM auth token with @aws-sdk/rds-signer (the AWS SDK for JavaScript v3),
// static credentials, same endpoint, user and region as benches/token.rs.
//
//   npm install --prefix target/bench-node @aws-sdk/rds-signer
//   node benches/rds-signer.cjs target/bench-node [--repeat 7] [--json out.json]
//
// Each run signs enough tokens to take ~0.5 s; prints the median and spread of the runs.
"use strict";

const path = require("path");
const fs = require("fs");

const args = process.argv.slice(2);
const dir = path.resolve(args[0] || "target/bench-node");
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const repeat = Number(option("--repeat", "7"));
const jsonOut = option("--json", null);

const { Signer } = require(path.join(dir, "node_modules", "@aws-sdk", "rds-signer"));
const version = JSON.parse(
  fs.readFileSync(path.join(dir, "node_modules", "@aws-sdk", "rds-signer", "package.json"), "utf8"),
).version;

const signer = new Signer({
  hostname: "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com",
  port: 5432,
  username: "app_user",
  region: "us-east-1",
  credentials: {
    accessKeyId: "AKIAIOSFODNN7EXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  },
});

async function timeCalls(n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await signer.getAuthToken();
  return Number(process.hrtime.bigint() - start) / 1e3; // us
}

async function main() {
  const first = await signer.getAuthToken();
  if (!first.startsWith("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com:5432/?")) {
    throw new Error(`unexpected token shape: ${first.slice(0, 60)}`);
  }
  // Calibrate: enough calls for ~0.5 s per run, after a warm-up of the JIT.
  await timeCalls(2000);
  let n = 1000;
  while ((await timeCalls(n)) < 100_000) n *= 2;
  const perCall = (await timeCalls(n)) / n;
  n = Math.max(1, Math.round(500_000 / perCall));
  const runs = [];
  for (let r = 0; r < repeat; r++) runs.push((await timeCalls(n)) / n);
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const result = {
    node: process.version,
    "rds-signer": version,
    rds_signer_get_auth_token_us: { median, min: sorted[0], max: sorted[sorted.length - 1], runs, calls_per_run: n },
  };
  console.log(
    `@aws-sdk/rds-signer ${version} getAuthToken  median ${median.toFixed(2)} us  (min ${sorted[0].toFixed(2)}, max ${sorted[sorted.length - 1].toFixed(2)}, ${repeat} runs)`,
  );
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
