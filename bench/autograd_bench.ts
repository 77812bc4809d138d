/**
 * `deno bench` for the autograd overhead (see bench/autograd.ts): per device, the plain
 * MLP forward is the baseline of its group, against the recorded forward and the full
 * diff (forward + backward). GPU iterations end with one host sync each.
 */

import * as dn from "../internals.ts";
import { mlpProblem, steps } from "./autograd.ts";

const devices: dn.DeviceName[] = ["cpu"];
if ((await dn.init()) === "gpu") devices.push("gpu");

for (const device of devices) {
  const s = steps(mlpProblem(device));
  const group = `autograd MLP ${device}`;
  const wrap = (f: () => void) => async () => {
    f();
    if (device === "gpu") await dn.gpuRuntime().sync();
  };
  Deno.bench({ name: "forward", group, baseline: true, fn: wrap(s.forward) });
  Deno.bench({ name: "forward recorded on a tape", group, fn: wrap(s.recorded) });
  Deno.bench({ name: "diff (forward + backward)", group, fn: wrap(s.diff) });
}
