/**
 * bench/gpu_check.ts at `--size tiny` on the test adapter: every section is there with
 * plausible figures (positive finite timings, dispatch counts, a GEMM checked against the
 * CPU), the JSON on disk holds the finished sections after each one, and a section that
 * throws is recorded while the run goes on.
 */

import assert from "node:assert/strict";
import { GPU_PROFILE_NAMES } from "../internals.ts";
import {
  type GpuCheckReport,
  main,
  type SectionName,
  type SectionResult,
  SECTIONS,
} from "../bench/gpu_check.ts";
import { GPU_TEST, haveGpu } from "./_helpers.ts";

const positive = (x: unknown, what: string): number => {
  assert.equal(typeof x, "number", `${what}: ${x} is not a number`);
  assert.ok(Number.isFinite(x) && (x as number) > 0, `${what}: ${x} is not positive and finite`);
  return x as number;
};

/** Reads the JSON report on disk. */
async function onDisk(path: string): Promise<GpuCheckReport> {
  return JSON.parse(await Deno.readTextFile(path));
}

function ok(r: GpuCheckReport, name: SectionName): SectionResult {
  const s = r.sections[name];
  assert.ok(s, `section ${name} missing`);
  assert.equal(s.error, undefined, `section ${name} failed: ${s.error}`);
  assert.ok(Number.isFinite(s.seconds) && s.seconds >= 0, `${name}.seconds ${s.seconds}`);
  return s;
}

Deno.test({
  name: "gpu_check --size tiny: every section with plausible figures, JSON after each",
  ...GPU_TEST,
  async fn() {
    if (!(await haveGpu())) return;
    const dir = await Deno.makeTempDir({ prefix: "gpu_check_test" });
    const out = `${dir}/check.json`;
    const seen: SectionName[] = [];
    const report = await main(["--size", "tiny", "--out", out], {
      log: () => {},
      onSection: async (name) => {
        // the file on disk already holds this section and the ones before, no more
        const disk = await onDisk(out);
        assert.deepEqual(Object.keys(disk.sections), [...seen, name]);
        assert.equal(disk.complete, false);
        assert.equal(
          disk.sections[name]!.error,
          undefined,
          `${name}: ${disk.sections[name]!.error}`,
        );
        seen.push(name);
      },
    });
    assert.deepEqual(seen, [...SECTIONS]);
    assert.deepEqual(await onDisk(out), JSON.parse(JSON.stringify(report)));
    assert.equal(report.complete, true);
    assert.equal(report.size, "tiny");

    const ad = ok(report, "adapter");
    assert.ok(typeof ad.description === "string" && ad.description.length > 0);
    assert.equal(ad.description, report.adapter);
    assert.equal(typeof ad.isFallbackAdapter, "boolean");
    positive((ad.limits as Record<string, number>).maxStorageBufferBindingSize, "limits");
    assert.ok(Array.isArray(ad.features));
    assert.ok(GPU_PROFILE_NAMES.includes(ad.profile as never), `profile ${ad.profile}`);
    if (!Deno.env.get("DENET_DEVICE")) {
      assert.equal(ad.defaultDevice, ad.isSoftware ? "cpu" : "gpu");
    }
    assert.ok(String(ad.defaultDeviceReason).length > 0);

    const ops = ok(report, "compile").ops as Record<string, Record<string, number>>;
    for (const k of ["gemm", "add", "relu", "sum", "softmax", "nll", "conv4", "pool", "rnn_cell"]) {
      const o = ops[k];
      assert.ok(o, `compile: op ${k} missing`);
      positive(o.firstMs, `compile ${k} firstMs`);
      positive(o.secondMs, `compile ${k} secondMs`);
      assert.ok(o.compileMs >= 0 && Number.isFinite(o.compileMs), `compile ${k} ${o.compileMs}`);
      // the first call of each op in this process built at least one pipeline
      assert.ok(o.pipelinesCompiled >= 1, `compile ${k}: ${o.pipelinesCompiled} pipelines`);
      positive(o.dispatches, `compile ${k} dispatches`);
    }

    const ov = ok(report, "overhead");
    assert.equal(ov.lowerRungsError, undefined, `ladder (b)–(d): ${ov.lowerRungsError}`);
    const us = ov.usPerDispatch as Record<string, number>;
    for (const k of ["opPath", "runtimeDispatch", "createBindGroup", "rawSetAndDispatch"]) {
      positive(us[k], `overhead ${k}`);
    }
    positive(us.rawDispatchOnly, "overhead rawDispatchOnly");
    const perOp = positive(ov.opPathDispatchesPerOp, "dispatches per op");
    assert.ok(perOp <= 1, `add and relu take ${perOp} dispatches each`);
    const tf = ov.tfjsWebgpu as {
      usPerOp: number | null;
      note: string;
      deferredSubmitBatchSize: number;
    };
    // one submit per chain, denet's and tfjs' alike
    assert.equal(ov.opPathDispatchesPerSubmit, (ov.opsPerTrial as number) * perOp);
    assert.equal(tf.deferredSubmitBatchSize, (ov.opsPerTrial as number) + 1);
    positive(
      (ov.opPathWithDefaultBatching as Record<string, number>).usPerDispatch,
      "op path with the default batching",
    );
    if (tf.usPerOp === null) {
      assert.ok(tf.note.length > 0, "tfjs did not run and says nothing why");
      assert.equal(ov.ratioDenetOverTfjs, null);
    } else {
      positive(tf.usPerOp, "tfjs µs/op");
      const ratio = positive(ov.ratioDenetOverTfjs, "denet/tfjs");
      assert.ok(Math.abs(ratio - us.opPath / tf.usPerOp) <= 0.01 * ratio);
    }

    const gm = ok(report, "gemm");
    const verify = gm.verify as { ok: boolean; cases: Record<string, number | boolean>[] };
    assert.equal(verify.ok, true);
    assert.equal(verify.cases.length, 4, "one check per transpose pair");
    assert.deepEqual(
      new Set(verify.cases.map((c) => `${c.transA}${c.transB}`)),
      new Set(["falsefalse", "truefalse", "falsetrue", "truetrue"]),
    );
    for (const c of verify.cases) {
      assert.equal(c.pass, true);
      assert.ok((c.maxAbsErr as number) <= (c.tol as number) && (c.tol as number) < 0.01);
      assert.ok((c.m as number) % 4 !== 0 || (c.n as number) % 4 !== 0, "odd sizes");
    }
    const square = gm.square as Record<string, number>[];
    assert.equal(square.length, 2 * 3, "two sizes, plain and two transposes");
    for (const s of square) {
      const ms = positive(s.ms, "gemm ms");
      const gf = positive(s.gflops, "gemm GFLOP/s");
      assert.ok(Math.abs(gf - (2 * s.size ** 3) / (ms * 1e6)) <= 0.01 * gf, "GFLOP/s from ms");
      assert.ok(s.reps >= 1);
    }
    const shapes = gm.training as Record<string, number>[];
    assert.ok(shapes.length >= 10, "MLP and LeNet training GEMMs");
    for (const s of shapes) {
      positive(s.us, `gemm ${s.name} µs`);
      positive(s.dispatches, `gemm ${s.name} dispatches`);
    }

    const bw = ok(report, "bandwidth");
    assert.equal(bw.elements, 1 << 16);
    for (const k of ["copyBufferToBuffer", "sum", "add"]) {
      positive((bw[k] as Record<string, number>).gbps, `bandwidth ${k}`);
      positive((bw[k] as Record<string, number>).ms, `bandwidth ${k} ms`);
    }

    const sm = ok(report, "softmax").rows as { shape: number[]; [k: string]: unknown }[];
    assert.deepEqual(sm.map((r) => r.shape[0] > 0 && r.shape[1] > 0), [true, true, true]);
    assert.deepEqual(sm[0].shape, [100, 10]);
    for (const r of sm) {
      positive(r.usPerFwdBwd, `softmax ${r.shape}`);
      positive(r.dispatches, `softmax ${r.shape} dispatches`);
    }

    const runs = ok(report, "training").runs as Record<string, number | string>[];
    assert.deepEqual(runs.map((r) => r.model), ["mlp", "lenet"]);
    for (const r of runs) {
      const what = `${r.model}@${r.batch}`;
      positive(r.stepsPerSec, `${what} steps/s`);
      const wall = positive(r.wallMsPerStep, `${what} wall ms`);
      const enc = positive(r.hostEncodeMsPerStep, `${what} encode ms`);
      assert.ok(enc <= wall, `${what}: encode ${enc} ms > wall ${wall} ms`);
      positive(r.dispatchesPerStep, `${what} dispatches/step`);
      positive(r.submitsPerStep, `${what} submits/step`);
      // one readback of the last loss, none per step
      assert.equal(r.hostSyncsPerStep, 1 / (r.steps as number), `${what} host syncs`);
      assert.ok(Number.isFinite(r.finalLoss as number), `${what} loss ${r.finalLoss}`);
    }
    // LeNet's step does more than the MLP's
    assert.ok((runs[1].dispatchesPerStep as number) > (runs[0].dispatchesPerStep as number));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "gpu_check: a section that throws is recorded and the run goes on",
  ...GPU_TEST,
  async fn() {
    if (!(await haveGpu())) return;
    const dir = await Deno.makeTempDir({ prefix: "gpu_check_test" });
    const out = `${dir}/check.json`;
    const afterFailure: GpuCheckReport[] = [];
    const report = await main(
      ["--size", "tiny", "--out", out, "--sections", "adapter,softmax", "--no-tfjs"],
      {
        log: () => {},
        failSection: "adapter",
        onSection: async (name) => {
          if (name === "adapter") afterFailure.push(await onDisk(out));
        },
      },
    );
    // the failure was on disk before the next section ran
    assert.equal(afterFailure.length, 1);
    assert.deepEqual(Object.keys(afterFailure[0].sections), ["adapter"]);
    assert.match(
      String(afterFailure[0].sections.adapter!.error),
      /forced failure of section adapter/,
    );
    // the next section ran and the run completed, with only the sections asked for
    assert.deepEqual(Object.keys(report.sections), ["adapter", "softmax"]);
    assert.equal((ok(report, "softmax").rows as unknown[]).length, 3);
    assert.equal(report.complete, true);
    assert.deepEqual(await onDisk(out), JSON.parse(JSON.stringify(report)));
    await assert.rejects(
      () => main(["--size", "huge", "--out", out], { log: () => {} }),
      /--size must be tiny, small or full/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});
