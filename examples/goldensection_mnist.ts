/**
 * Knet's `goldensection_demo`: tune the MNIST MLP's hidden size and SGD learning rate by
 * concurrent golden-section search (x = 0 is Knet's default: hidden 64, lr 0.5), every
 * configuration trained for `--budget` epochs and judged on 10 000 held-out training
 * images; prints the table of configurations tried and the best one's test accuracy.
 *
 *     deno run -A examples/goldensection_mnist.ts [--budget 3] [--dxmin 0.1] [--device cpu]
 *         [--data DIR] [--limit N] [--val N]
 *
 * @module
 */

import { tuneCommand } from "../src/app/tune_cli.ts";

if (import.meta.main) Deno.exit(await tuneCommand(["--method", "goldensection", ...Deno.args]));
