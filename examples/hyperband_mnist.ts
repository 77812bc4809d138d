/**
 * Knet's `hyperband_demo`: tune the MNIST MLP's hidden size and SGD learning rate by
 * hyperband (random configurations, successive halving over epochs up to `--budget`,
 * reduction 3), judged on 10 000 held-out training images; prints the table of
 * configurations tried and the best one's test accuracy.
 *
 *     deno run -A examples/hyperband_mnist.ts [--budget 9] [--reduction 3] [--device cpu]
 *         [--data DIR] [--limit N] [--val N]
 *
 * @module
 */

import { tuneCommand } from "../src/app/tune_cli.ts";

if (import.meta.main) Deno.exit(await tuneCommand(["--method", "hyperband", ...Deno.args]));
