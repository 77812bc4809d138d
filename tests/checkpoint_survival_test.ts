/**
 * Checkpoint survival (issue 16): `cli.ts train --save` is killed with SIGKILL at 10
 * points, half at random times during the run and half the moment a save's temporary
 * file appears (inside the save, before its rename). After each kill the checkpoint
 * loads; the next run takes over the stale lock and removes the stale temporary file at
 * its first save; after the last run no temporary or lock file remains.
 * The kill times come from a seeded generator (DENET_KILL_SEED, default 16).
 */

import assert from "node:assert/strict";
import * as dn from "../mod.ts";
import { JOB_KEY } from "../src/app/resume.ts";
import { buildModel } from "../src/models.ts";
import { DATA_URL, haveData } from "./data_helpers.ts";

const MNIST = new URL("mnist/", DATA_URL).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const KILLS = 10;

function spawnTrain(ck: string, resume: boolean, epochs: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI,
      "train",
      ...["--device", "cpu", "--data", MNIST, "--model", "mlp", "--optimizer", "adam"],
      ...["--limit", "300", "--test-limit", "50", "--epochs", String(epochs), "--save", ck],
      ...(resume ? ["--resume", ck] : []),
    ],
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The names of the checkpoint's temporary and lock files in `dir`. */
async function leftovers(dir: string): Promise<{ temps: string[]; locks: string[] }> {
  const temps: string[] = [];
  const locks: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (/^\.k\.st\..*\.tmp$/.test(e.name)) temps.push(e.name);
    if (e.name === ".k.st.lock") locks.push(e.name);
  }
  return { temps, locks };
}

/** Resolves when a temporary file of the checkpoint is created in `dir` (the n-th one). */
function tempCreated(dir: string, n: number, signal: AbortSignal): Promise<boolean> {
  const watcher = Deno.watchFs(dir, { recursive: false });
  signal.addEventListener("abort", () => watcher.close());
  return (async () => {
    let seen = 0;
    try {
      for await (const ev of watcher) {
        if (ev.kind !== "create") continue;
        if (ev.paths.some((p) => /\/\.k\.st\.\d+\..*\.tmp$/.test(p)) && ++seen >= n) return true;
      }
    } catch {
      // closed
    }
    return false;
  })();
}

Deno.test({
  name:
    "checkpoint survival: SIGKILL at 10 points (5 inside a save): the file loads, nothing stale stays",
  ignore: !haveData("mnist"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await dn.init({ device: "cpu" });
    const seed = Number(Deno.env.get("DENET_KILL_SEED") ?? 16);
    const rng = new dn.Rng(seed);
    const dir = await Deno.makeTempDir({ prefix: "denet_survival_" });
    const ck = `${dir}/k.st`;
    let insideSave = 0;
    let lastEpoch = 0;
    let stale: string[] = [];
    try {
      for (let k = 0; k < KILLS; k++) {
        const had = await exists(ck);
        const child = spawnTrain(ck, had, 1_000_000);
        const stop = new AbortController();
        let atTemp = false;
        if (k % 2 === 1) {
          // Inside a save: the moment the 1st..3rd temporary file of this run appears.
          const nth = 1 + Math.floor(rng.nextU32() / 2 ** 32 * 3);
          atTemp = await Promise.race([
            tempCreated(dir, nth, stop.signal),
            new Promise<boolean>((r) => setTimeout(() => r(false), 60_000)),
          ]);
        } else {
          // At a random time: from start-up (before any save) to a few epochs in.
          const ms = 300 + Math.floor(rng.nextU32() / 2 ** 32 * 2500);
          await new Promise((r) => setTimeout(r, ms));
        }
        try {
          child.kill("SIGKILL");
        } catch {
          // it ended by itself (it cannot: a million epochs)
        }
        stop.abort();
        const status = await child.status;
        const err = new TextDecoder().decode(
          await new Response(child.stderr).arrayBuffer(),
        ).split("\n").filter((l) =>
          l.trim() !== "" && !/MESA|XDG_RUNTIME_DIR|^minibatch: /.test(l)
        );
        assert.equal(err.length, 0, `kill ${k}: the run reported ${err.join(" | ")}`);
        assert.equal(status.signal, "SIGKILL", `kill ${k}`);
        const left = await leftovers(dir);
        if (atTemp && left.temps.length > 0) insideSave++;
        // The temporary files of earlier kills are gone once this run saved.
        if (await exists(ck)) {
          const net = buildModel("mlp", { device: "cpu" });
          await dn.loadCheckpoint(ck, net); // throws if the file is torn
          const epoch = JSON.parse((await dn.readCheckpointInfo(ck)).metadata[JOB_KEY]).epoch;
          assert.ok(epoch >= lastEpoch, `kill ${k}: epoch ${epoch} < ${lastEpoch}`);
          if (epoch > lastEpoch) {
            for (const t of stale) assert.ok(!left.temps.includes(t), `kill ${k}: ${t} stayed`);
          }
          lastEpoch = epoch;
        }
        stale = left.temps;
      }
      // One last run to completion: the stale lock and temporary files are cleaned up.
      const last = spawnTrain(ck, await exists(ck), lastEpoch + 1);
      const status = await last.status;
      const err = new TextDecoder().decode(await new Response(last.stderr).arrayBuffer());
      assert.equal(status.code, 0, err);
      assert.deepEqual(await leftovers(dir), { temps: [], locks: [] });
      const info = await dn.readCheckpointInfo(ck);
      assert.equal(JSON.parse(info.metadata[JOB_KEY]).epoch, lastEpoch + 1);
      // At least one kill landed inside a save (its temporary file was left behind).
      assert.ok(insideSave >= 1, `kills inside a save: ${insideSave}`);
      console.log(
        `checkpoint survival: ${KILLS} kills, ${insideSave} inside a save, epoch ${lastEpoch + 1}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
