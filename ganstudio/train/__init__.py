"""The engine: a training run from its config to its last checkpoint. The config (every default once), the run
(device, data, model, optimizers, state), the loop, batches, precision, distributed set-up, the generator EMA and
DiffAugment. Imported by the CLI, the built-in commands, the contract kit and the on-demand classifier; never by
the plugin API or by built-in models and datasets."""
